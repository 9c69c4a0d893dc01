"""Base models: raymt's offline tiny mBART (``tiny``) and loading any Hugging Face seq2seq model."""

#: the ``model.name_or_path`` (and back-translation ``model``) that means raymt's own tiny base,
#: built and pre-trained locally (raymt.model.tiny)
TINY = "tiny"
#: the real-text built-in base (raymt.model.multilingual): pre-trained locally on real parallel text
MULTILINGUAL = "tiny-multilingual"
