"""The Chinese edition's catalogues are in step with the English source.

The Chinese edition (``_build/html-zh``) is the English source translated
message by message through ``locale/zh_CN/LC_MESSAGES/<page>.po`` (see
``locale/i18n.py`` and CONTRIBUTING.md, "Translating a change"). These tests
regenerate the message templates (``.pot``) from the current source into a
temporary folder, merge them with the catalogues in memory (as
``python locale/i18n.py update`` would, writing nothing), and fail, naming the
file and the message, for every message that is

* new (no translation yet),
* changed (its English changed since it was translated: fuzzy), or
* untranslated,

so a change to a chapter without its translation fails CI. They also check that
every translation keeps the markup of its English: the same roles
(``{term}``, ``{cite:p}``, ``{numref}``, ``{doc}``, ...), the same inline code,
the same links and the same inline math, since code and math are not translated.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from test_notebooks import _toc_files

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("book_i18n", ROOT / "locale" / "i18n.py")
i18n = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(i18n)


def _toc_pages() -> list[str]:
    """Every page of _toc.yml, read as tests/test_notebooks.py reads it."""
    return [re.sub(r"\.(ipynb|md)$", "", page) for page in _toc_files()]


PAGES = _toc_pages()
pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")


@pytest.fixture(scope="module")
def pot_dir(tmp_path_factory):
    """The .pot templates of the current source (execution off: ~30 s)."""
    return i18n.make_pot(tmp_path_factory.mktemp("gettext") / "gettext")


def test_every_page_has_a_template(pot_dir):
    missing = [page for page in PAGES if page not in i18n.templates(pot_dir)]
    assert not missing, f"gettext wrote no .pot for {missing}"


@pytest.mark.parametrize("page", PAGES)
def test_catalogue_is_translated_and_in_step(pot_dir, page):
    pot = i18n.templates(pot_dir).get(page)
    if pot is None:
        pytest.fail(f"no .pot for {page}", pytrace=False)
    po = f"locale/zh_CN/LC_MESSAGES/{page}.po"
    found = i18n.problems(i18n.merged(page, pot))
    lines = [f"{po}: {kind}: {' '.join(text.split())[:120]!r}" for kind, text in found]
    assert not lines, (
        f"{len(lines)} message(s) of {page} need a translator; run "
        f"`python locale/i18n.py update {page}`, translate {po} (no fuzzy, no empty "
        "msgstr; CONTRIBUTING.md, 'Translating a change'):\n" + "\n".join(lines)
    )


@pytest.mark.parametrize("page", PAGES)
def test_catalogue_is_as_update_writes_it(pot_dir, page):
    """No stray lines: e.g. babel's wrapped '#| msgid' lines, read back as comments."""
    pot = i18n.templates(pot_dir).get(page)
    path = ROOT / "locale" / "zh_CN" / "LC_MESSAGES" / f"{page}.po"
    if pot is None or not path.exists():
        pytest.skip(f"no template or no catalogue for {page}: see the test above")
    assert path.read_bytes() == i18n._po_text(i18n.merged(page, pot)), (
        f"{path.relative_to(ROOT)} differs from what `python locale/i18n.py update "
        f"{page}` writes; run it and commit the result"
    )


_ROLE = re.compile(r"\{([a-z:]+)\}`([^`]*)`")


def _markup(text: str) -> dict[str, list]:
    """Roles (with their targets), inline code, inline math and link targets."""
    roles = []
    for role, content in _ROLE.findall(text):
        # {term}`Retrieval` and {term}`召回 <retrieval>` point at the same entry.
        target = re.search(r"<([^<>]+)>\s*$", content)
        roles.append((role, (target.group(1) if target else content).strip().lower()))
    rest = _ROLE.sub(" ", text)
    code = re.findall(r"`([^`]+)`", rest)
    rest = re.sub(r"`[^`]+`", " ", rest)
    return {
        "roles": sorted(roles),
        "code": sorted(code),
        "math": sorted(re.findall(r"(?<![\\$])\$([^$\n]+?)\$", rest)),
        "links": sorted(re.findall(r"\]\(([^)\s]+)\)", rest)),
    }


def _translations(page):
    """``(catalogue path, its translated messages)``; skips a page with no catalogue yet."""
    path = i18n.CATALOGUES / f"{page}.po"
    if not path.exists():
        pytest.skip(f"{path} does not exist yet")
    return path, [m for m in i18n._read(path, i18n.LANGUAGE)
                  if m.id and isinstance(m.string, str) and m.string and not m.fuzzy]


@pytest.mark.parametrize("page", PAGES)
def test_translations_keep_the_markup(page):
    path, messages = _translations(page)
    bad = []
    for message in messages:
        english, chinese = message.id, message.string
        # Sphinx keeps a translation only if it parses as one paragraph (or title):
        # "1. ..." or "- ..." would be a list, silently left in English.
        block = r"(\d+[.)]|[-*+>#]|\|)\s"
        if re.match(block, chinese):
            bad.append(f"{path.relative_to(ROOT)}: the translation starts like a list, "
                       f"quote or heading and would not be used (write '1\\. ...' for a "
                       f"numbered heading): {chinese[:60]!r}")
        if "\n\n" in chinese and "\n\n" not in english:
            bad.append(f"{path.relative_to(ROOT)}: a blank line splits the translation "
                       f"into paragraphs; only the first would be used: {chinese[:60]!r}")
        markup_en, markup_zh = _markup(english), _markup(chinese)
        for what in markup_en:
            en, zh = markup_en[what], markup_zh[what]
            if en != zh:
                bad.append(f"{path.relative_to(ROOT)}: {what} differ: English {en}, "
                           f"Chinese {zh}, in {' '.join(english.split())[:80]!r}")
    assert not bad, "\n".join(bad)


# One Chinese term per concept (CONTRIBUTING.md, "Chinese terminology"): each
# concept's forbidden variants, searched in every msgstr outside code and math.
TERMS = {
    "catalogue -> 物品库": [r"候选集", r"片库", r"(?<!表)目录"],
    "movie -> 电影": [r"影片"],
    "title -> 片名": [r"电影标题", r"(?<!正文、)标题(?!、)"],
    "ties -> 并列": [r"平局", r"平分"],
    "wall-clock time -> 墙钟时间": [r"挂钟"],
    "top-k accuracy -> Top-K 准确率": [r"top-[kK]", r"Top-k(?!`)", r"(?<![\w-])top-\d"],
    "recall@k -> 召回率@K": [r"召回率@k", r"(?<![\w@])recall@\d"],
    "full softmax -> 全量 softmax": [r"全库 ?softmax"],
    "fallback -> 兜底": [r"回退"],
    "notebook -> notebook (笔记本电脑 is a laptop)": [r"笔记本(?!电脑)"],
    "tower measure word -> 个": [r"[两一另]座"],
    "re-ranker -> 精排模型 (重排序 only for ScaNN's re-scoring)": [r"重排序模型", r"重排序器"],
    "retrieval is not 信息检索": [r"信息检索"],
    "recipe -> 教程": [r"配方"],
    "honest -> 可靠": [r"诚实"],
}
_CODE_OR_MATH = re.compile(r"\{[a-z:]+\}`[^`]*`|`[^`]+`|\$\$.*?\$\$|\$[^$\n]+\$|\]\([^)]*\)", re.S)
# A role's Chinese link text is prose (``{term}`召回率@K（recall@k） <recall@k>```): it
# stays, without its target and without the English gloss in full-width brackets.
_ROLE_TEXT = re.compile(r"\{(?:term|ref|doc|numref)\}`([^`<]*?)\s*<[^>]*>`")
_GLOSS = re.compile(r"（[^（）]*[A-Za-z][^（）]*）")


@pytest.mark.parametrize("page", PAGES)
def test_translations_use_the_terminology(page):
    path, messages = _translations(page)
    bad = []
    for message in messages:
        prose = _ROLE_TEXT.sub(lambda m: _GLOSS.sub("", m.group(1)), message.string)
        prose = _CODE_OR_MATH.sub(" ", prose)
        for concept, variants in TERMS.items():
            for variant in variants:
                for hit in re.finditer(variant, prose):
                    bad.append(f"{path.relative_to(ROOT)}: {concept}: {hit.group()!r} in "
                               f"{' '.join(message.id.split())[:80]!r}")
    assert not bad, "terms outside CONTRIBUTING.md's table:\n" + "\n".join(bad)


@pytest.mark.parametrize("page", PAGES)
def test_display_math_words_are_translated(page):
    """English phrases inside ``\\text{...}`` (``same for every user``) are translated;
    one-word labels that name code (``\\text{obs}``) and movie titles may stay."""
    path, messages = _translations(page)
    bad = [f"{path.relative_to(ROOT)}: {hit!r} in {' '.join(m.id.split())[:60]!r}"
           for m in messages
           for hit in re.findall(r"\\text\{ ?(?:[a-z]+ ){2,}[a-z]+ ?\}", m.string)]
    assert not bad, "English words in display math:\n" + "\n".join(bad)


def test_the_english_glossary_names_the_same_chinese_terms():
    """The English glossary's "中文：…" notes follow the terminology table too."""
    text = (ROOT / "book" / "glossary.md").read_text(encoding="utf-8")
    bad = [f"{concept}: {hit.group()!r} in {note!r}"
           for note in re.findall(r"中文：[^\n]*", text)
           for concept, variants in TERMS.items() for variant in variants
           for hit in re.finditer(variant, _CODE_OR_MATH.sub(" ", note))]
    assert not bad, "book/glossary.md names terms outside CONTRIBUTING.md's table:\n" + "\n".join(bad)
