"""A search's results folder: what is in it and how it is written.

``files`` names every file, ``folder`` finds (or makes) the folder and mirrors it to an object
store, ``collect`` turns Tune's ResultGrid into the trials table, history and kept artefacts,
``columns`` is the table's parameter vocabulary (and reads tables written with the old names),
``references`` writes the evaluation references, ``report`` rebuilds report.md. This package
takes column names, never the compiled search space, so it does not import ``raymt.search``.
"""
