"""The reStructuredText documents render without a warning: a malformed table or a broken
section renders as a garbled page on any site that shows the file."""

from __future__ import annotations

from pathlib import Path

import docutils.core
import docutils.utils
import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = sorted([*ROOT.glob("*.rst"), *ROOT.glob("docs/*.rst"), *ROOT.glob("bench/*.rst")])


def test_every_document_is_found():
    names = {path.relative_to(ROOT).as_posix() for path in DOCUMENTS}
    assert {"README.rst", "CHANGELOG.rst", "docs/scaling.rst", "bench/README.rst"} <= names


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_document_renders_without_warnings(path: Path):
    settings = {"halt_level": docutils.utils.Reporter.WARNING_LEVEL, "report_level": 5,
                "file_insertion_enabled": False, "raw_enabled": False}
    docutils.core.publish_doctree(path.read_text(encoding="utf-8"), source_path=str(path),
                                  settings_overrides=settings)
