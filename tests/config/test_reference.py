"""docs/configuration.md is what the schema accepts (error messages send users there)."""

from pathlib import Path

from raymt.config.reference import render_reference

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_committed_reference_matches_the_schema():
    assert DOC.read_text() == render_reference(), "stale: run python -m raymt.config.reference > docs/configuration.md"


def test_reference_lists_every_method_and_section():
    from raymt.methods import available_methods

    text = render_reference()
    for name in available_methods():
        assert f"## method: {name}" in text
    for section in ("## train", "## resources", "## search", "## data (source: local)"):
        assert section in text
