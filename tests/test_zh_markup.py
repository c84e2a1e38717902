"""The built Chinese pages show no Markdown that failed to render (issue 27).

CommonMark's flanking rules leave ``**`` and ``*`` as literal text when the
marker sits between a letter and full-width punctuation the wrong way round
(``**{term}`基线预测器 <baseline predictor>`**（baseline predictor）``). This test
reads every page of ``_build/html-zh`` (``python locale/i18n.py html``) and
fails, naming page and text, where the page's prose (code, outputs and math
left out) shows

* a literal ``**``, or two ``*`` in one text run (emphasis that did not render);
* a term, doc or numbered reference whose Latin link text touches a Chinese
  character (``顺序的NDCG来``), or whose Chinese link text is set off from
  Chinese by a space (``顺序的 召回率@10``): the convention is a space between
  Chinese and Latin text or roles, and none between Chinese and Chinese
  (except around a bold or emphasised role, ``即 **{term}`嵌入`**``: the
  ``**`` beside the role's backquote opens and closes only with a space);
* an emphasis or bold text with a space between it and Chinese, where both
  sides of the space are Chinese (``给 每一个 物品``, ``只在 评估 时``): the
  convention is no space around Chinese emphasis.

It skips, saying why, when the Chinese HTML has not been built.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HTML_ZH_DIR = Path(os.environ.get("BOOK_HTML_ZH", REPO / "_build" / "html-zh")).resolve()
PAGES = sorted(HTML_ZH_DIR.glob("book/*.html")) if HTML_ZH_DIR.is_dir() else []
SKIPPED = "pre, code, script, style, .math, .highlight, .cell_output, .output, mjx-container"
CJK = "\u4e00-\u9fff"

pytestmark = pytest.mark.skipif(
    not PAGES,
    reason=f"Chinese HTML not built ({HTML_ZH_DIR}/book/*.html absent): run "
    "`python locale/i18n.py html --execution off` first",
)


def _article(path: Path):
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser")
    body = soup.select_one("article") or soup.body
    for node in body.select(SKIPPED):
        node.decompose()
    return body


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_no_literal_emphasis_markers(page):
    bad = []
    for text in _article(page).find_all(string=True):
        if "**" in text or text.count("*") >= 2:
            bad.append(" ".join(text.split())[:100])
    assert not bad, f"{page.name}: literal * in the page text:\n" + "\n".join(bad)


def _neighbours(node):
    """The two characters just before and just after ``node`` in the page text."""
    before = node.find_previous(string=True)
    strings = list(node.strings)
    after = strings[-1].find_next(string=True) if strings else None
    return (before or "")[-2:], (after or "")[:2]


@pytest.mark.parametrize("page", PAGES, ids=[p.stem for p in PAGES])
def test_latin_roles_and_emphasis_spacing(page):
    body = _article(page)
    bad = []
    for ref in body.select("a.reference.internal"):
        text = ref.get_text()
        if not text or ref.find_parent(["nav"]) or ref.find_parent(class_="toctree-wrapper"):
            continue
        before, after = _neighbours(ref)
        if (re.match(r"[A-Za-z0-9]", text[0]) and re.search(f"[{CJK}]$", before)) or (
            re.match(r"[A-Za-z0-9]", text[-1]) and re.match(f"[{CJK}]", after)
        ):
            bad.append(f"role glued to Chinese: {before}[{text}]{after}")
        wrapper = ref.find_parent(["strong", "em"])
        if wrapper is not None and wrapper.get_text().strip() == text.strip():
            continue
        if (re.match(f"[{CJK}]", text[0]) and re.fullmatch(f"[{CJK}] ", before)) or (
            re.search(f"[{CJK}）]$", text) and re.fullmatch(f" [{CJK}]", after)
        ):
            bad.append(f"space between Chinese and a Chinese role: {before}[{text}]{after}")
    for em in body.select("p em, li em, p strong, li strong"):
        text = em.get_text()
        prev, nxt = em.previous_sibling, em.next_sibling
        children = [c for c in em.contents if not (isinstance(c, str) and not c.strip())]
        if not text or not children:
            continue
        # Emphasis that opens (closes) on a role, code or math needs its space in the
        # source (the ``*`` touches punctuation), so only plain text ends count.
        opens_on_text, closes_on_text = isinstance(children[0], str), isinstance(children[-1], str)
        if (opens_on_text and isinstance(prev, str) and re.search(f"[{CJK}] $", prev)
                and re.match(f"[{CJK}]", text[0])) or (
                closes_on_text and isinstance(nxt, str) and re.match(f" [{CJK}]", nxt)
                and re.search(f"[{CJK}]$", text)):
            bad.append(f"space beside Chinese emphasis: {(prev or '')[-3:]}*{text}*{(nxt or '')[:3]}")
    assert not bad, f"{page.name}:\n" + "\n".join(bad)
