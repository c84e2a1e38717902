"""Checks of the committed chapters that nbval alone would not catch.

nbval compares each cell's fresh output with the stored one, so a notebook
committed without outputs would pass while checking nothing. These tests fail
in that case, and keep the table of contents and the chapters in step.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


def _toc_files() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc.get("parts", toc.get("chapters", [])))
    return files


def _code_cells(path: Path) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_there_are_chapters():
    assert CHAPTERS, "no chapter notebooks found in book/"


def test_every_chapter_is_in_the_toc_and_every_toc_entry_exists():
    listed = _toc_files()
    for chapter in CHAPTERS:
        assert f"book/{chapter.stem}" in listed, f"{chapter.name} is not listed in _toc.yml"
    for entry in listed:
        candidates = [ROOT / f"{entry}{ext}" for ext in (".md", ".ipynb")]
        assert any(c.exists() for c in candidates), f"_toc.yml lists {entry}, which does not exist"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_is_executed_in_order_with_outputs(path):
    cells = _code_cells(path)
    counts = [c.get("execution_count") for c in cells]
    assert None not in counts, f"{path.name}: a code cell was never executed"
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts[:8]}... are not 1, 2, 3, ...: "
        "run it top to bottom in a fresh kernel before committing"
    )
    with_output = sum(1 for c in cells if c.get("outputs"))
    assert with_output >= max(1, len(cells) // 3), (
        f"{path.name}: only {with_output} of {len(cells)} code cells have stored outputs, "
        "so nbval would compare (almost) nothing"
    )


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_conventions(path):
    cells = _code_cells(path)
    first = "".join(cells[0]["source"])
    assert re.search(r"^import helpers$", first, re.M) and "helpers.setup(" in first, (
        f"{path.name}: the first code cell must `import helpers` and call helpers.setup()"
    )
    for cell in cells:
        src = "".join(cell["source"])
        assert not re.search(r"^\s*[!%]\s*pip\b", src, re.M), f"{path.name}: installs in a chapter"
        assert "sys.path" not in src, f"{path.name}: edits sys.path; install the repo instead"
        assert "import *" not in src, f"{path.name}: star import"
        tags = set(cell.get("metadata", {}).get("tags", []))
        for out in cell.get("outputs", []):
            if out.get("output_type") == "error":
                assert tags & {"raises-exception", "nbval-raises-exception"}, (
                    f"{path.name}: stored error {out.get('ename')} in a cell not tagged raises-exception"
                )
