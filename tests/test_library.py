"""The rules of helpers/ (CONTRIBUTING.md), checked: a small library by concept.

* at most 3,000 lines in all;
* one training loop: exactly one call of Keras ``fit`` in helpers/;
* one DCG/NDCG core;
* every function a chapter shows (``literalinclude`` with ``:pyobject:``) is at
  most 25 lines without its docstring and checks no argument;
* no module docstring names a chapter.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted((ROOT / "helpers").glob("*.py"))
SHOWN = re.compile(r"```\{literalinclude\} \.\./(helpers/\w+\.py)\n:pyobject: ([\w.]+)")


def _shown():
    for notebook in sorted((ROOT / "book").glob("*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            for path, name in SHOWN.findall("".join(cell["source"])):
                yield notebook.stem, path, name


def _find(tree: ast.AST, dotted: str):
    node = tree
    for part in dotted.split("."):
        node = next(n for n in ast.iter_child_nodes(node)
                    if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == part)
    return node


def _lines_without_docstrings(node) -> int:
    lines = set(range(node.lineno, node.end_lineno + 1))
    for n in ast.walk(node):
        body = getattr(n, "body", None)
        if (isinstance(n, (ast.FunctionDef, ast.ClassDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            lines -= set(range(body[0].lineno, body[0].end_lineno + 1))
    return len(lines)


def test_the_library_is_at_most_3000_lines():
    total = sum(len(p.read_text().splitlines()) for p in MODULES)
    assert total <= 3000, f"helpers/ has {total} lines"


def test_exactly_one_call_of_keras_fit():
    calls = [(p.name, n.lineno) for p in MODULES for n in ast.walk(ast.parse(p.read_text()))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
             and n.func.attr == "fit"]
    assert len(calls) == 1, calls


def test_one_dcg_core():
    defs = [(p.name, n.name) for p in MODULES for n in ast.walk(ast.parse(p.read_text()))
            if isinstance(n, ast.FunctionDef) and "dcg" in n.name.lower()]
    assert defs == [("metrics.py", "ndcg")], defs


def test_no_module_docstring_names_a_chapter():
    named = [p.name for p in MODULES
             if re.search(r"\bchapters?\s+\d|\bch\.\s*\d", ast.get_docstring(ast.parse(p.read_text())) or "",
                          re.IGNORECASE)]
    assert not named, named


@pytest.mark.parametrize("chapter, path, name", list(_shown()))
def test_shown_code_is_short_and_bare(chapter, path, name):
    node = _find(ast.parse((ROOT / path).read_text()), name)
    assert _lines_without_docstrings(node) <= 25, f"{chapter} shows {path}:{name}"
    source = ast.unparse(node)
    assert "_checks." not in source and "raise " not in source, f"{name} checks its arguments"
