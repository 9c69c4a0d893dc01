"""The built-in bases' tokenizer: SentencePiece Unigram laid out as a real MBart50Tokenizer,
the same pieces and ids every time it is trained on the same text (issue 20: the previous
trainer gave a different vocabulary order in every process)."""

import subprocess
import sys

from raymt.model.tokenizer_training import SPECIALS, train_tokenizer, train_unigram_pieces

TEXT = [
    "the doctor sees a tired patient",
    "a nurse treats the child",
    "the children sleep in the red house",
    "der Arzt sieht einen müden Patienten",
    "eine Krankenschwester behandelt das Kind",
    "die Kinder schlafen im roten Haus",
    "le médecin voit un patient fatigué",
    "une infirmière soigne l'enfant",
] * 20


def test_layout_is_mbart50s(multi30k_cut):
    texts = [line for lang in ("en", "de", "fr", "cs") for line in (multi30k_cut / f"train.{lang}").read_text().splitlines()]
    tok = train_tokenizer(texts, 2000, src_lang="en_XX", tgt_lang="cs_CZ")
    assert type(tok).__name__ == "MBart50Tokenizer"
    assert tok.convert_ids_to_tokens(list(range(4))) == list(SPECIALS)
    assert tok.convert_ids_to_tokens(len(tok) - 1) == "<mask>"
    enc = tok("Zwei Männer", text_target="Dva muži")
    assert tok.convert_ids_to_tokens(enc["input_ids"][0]) == "en_XX" and tok.convert_ids_to_tokens(enc["labels"][0]) == "cs_CZ"
    # Czech and German words are pieces, not characters, and nothing is unknown
    ids = tok("Muž v modrém tričku stojí na ulici.", add_special_tokens=False)["input_ids"]
    assert tok.unk_token_id not in ids and len(ids) <= 12


def test_same_text_same_pieces_in_separate_processes():
    """Two processes, as two machines would: the old trainer differed here (hash order)."""
    code = (
        f"import json, sys; from raymt.model.tokenizer_training import train_unigram_pieces; print(json.dumps(train_unigram_pieces({TEXT!r}, 120)))"
    )
    runs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout for _ in range(2)}
    assert len(runs) == 1
    assert [p for p, _ in train_unigram_pieces(TEXT, 120)] == [p for p, _ in __import__("json").loads(runs.pop())]


def test_every_character_of_the_text_has_a_piece():
    pieces = {p for p, _ in train_unigram_pieces(TEXT, 120)}
    chars = {c for line in TEXT for c in line if c != " "}
    assert chars <= {c for p in pieces for c in p}
