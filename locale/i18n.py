"""The Chinese edition of the book: its catalogues and its build.

The Chinese edition is the English source translated message by message with
Sphinx's gettext support: ``locale/zh_CN/LC_MESSAGES/<page>.po`` holds, for
every paragraph, heading, caption, table cell and glossary entry of
``<page>`` (``book/01_embeddings``, ``book/intro``, ...), the English text
(``msgid``) and its translation (``msgstr``). Code, code outputs and figures are
not messages: both editions show them as executed.

Usage (from the repository's top folder, in its virtual environment)::

    python locale/i18n.py update [PAGE ...]  # new/changed English text into the .po files
    python locale/i18n.py check              # exit 1 naming every message not translated
    python locale/i18n.py status             # messages per file: translated, fuzzy, missing
    python locale/i18n.py html               # the Chinese HTML in _build/html-zh/
    python locale/i18n.py pot [FOLDER]       # only the .pot templates (default _build/gettext)

``update`` without a page updates every catalogue; ``update book/06_features``
only that chapter's (a page is its path without extension, as in ``_toc.yml``).
A message whose English changed keeps its old translation marked ``#, fuzzy``,
with the old English as ``#| msgid``; new messages have an empty ``msgstr``.
Both count as untranslated until a translator fixes them and removes the flag.

No ``conf.py``: the Sphinx configuration is Jupyter Book's own, computed from
``_config.yml`` exactly as ``jupyter-book build`` computes it (which also puts
``_ext/`` on ``sys.path`` for the book's local extensions), plus the few
settings below. The Chinese build shows the outputs committed in the
notebooks, as the English build does (``execute_notebooks: "off"``); with
``--execution cache`` (``make book-fresh``) it reads the English build's
execution cache, ``_build/.jupyter_cache``, and executes nothing that build
already executed. The templates are made with execution off, since
outputs are not messages.

Both i18n builds load one small extension, ``I18N_FIXES`` below, with two
transforms: without them the cells of a Markdown table inside a directive (an exercise's
dropdown ``{admonition} Solution``) are neither extracted nor translated, and
the sidebar's part captions stay in English.
"""

from __future__ import annotations

import argparse
import copy
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCALE_DIR = ROOT / "locale"
LANGUAGE = "zh_CN"
CATALOGUES = LOCALE_DIR / LANGUAGE / "LC_MESSAGES"
BUILD = ROOT / "_build"
HTML_ZH = BUILD / "html-zh"
POT_DIR = BUILD / "gettext"
EXECUTION_CACHE = BUILD / ".jupyter_cache"  # where `jupyter-book build .` keeps it

# Settings the two i18n builds add to the book's own configuration.
COMMON = {
    # One catalogue per page (the default puts every chapter into one file).
    "gettext_compact": False,
    # No "#: file:line" comments: they would change with every edit elsewhere.
    "gettext_location": False,
    "gettext_uuid": False,
    "locale_dirs": [str(LOCALE_DIR)],
}
# The name under which the i18n builds load ``_setup_i18n_fixes`` as a
# Sphinx extension (registered in ``sys.modules`` by ``_i18n_fixes``).
I18N_FIXES = "book_i18n_fixes"
ZH_TITLE = "用 TensorFlow Recommenders 构建推荐系统"
ZH_SEARCH_TEXT = "搜索本书……"


def _jupyter_book_config(overrides: dict) -> tuple[Path, dict]:
    """The configuration ``jupyter-book build .`` would use, and its overrides."""
    import click
    from jupyter_book.cli.main import build

    context = click.Context(build)
    path_config, _, cli_config = context.invoke(
        build, path_source=str(ROOT), config=None, toc=None, get_config_only=True
    )
    cli_config = {**cli_config, **overrides}
    return Path(path_config), cli_config


def _final_config(path_config: Path, cli_config: dict) -> dict:
    from jupyter_book.config import get_final_config

    config, _ = get_final_config(
        user_yaml=path_config, sourcedir=ROOT, cli_config=dict(cli_config)
    )
    return config


def _setup_i18n_fixes(app) -> dict:
    """Sphinx extension: two transforms the translated builds need.

    ``TableCellSources`` gives the cells of every table the table's source.

    MyST sets ``source`` on a Markdown table but not on the paragraphs of its
    cells; these take the document's current source only when the table is
    already part of the document, i.e. at the top level of a page. Inside a
    directive (``{admonition} Solution`` with ``:class: dropdown``, a tab, a
    ``{table}``) the directive parses its content into a node that is not yet
    attached, so the cells stay without a source, and Sphinx takes a text
    without a source for one of its own built-in texts: ``gettext`` does not
    extract it and the translated build leaves it in English (MyST 3.0,
    Sphinx 7.4; sphinx-design issue 234). Copying the table's source onto its
    cells, before the Locale transform (priority 20), makes them messages like
    the cells of a top-level table. Only the i18n builds load this: the English
    build, and the page it shows, are unchanged.
    """
    from docutils import nodes
    from sphinx.transforms import SphinxTransform

    class TableCellSources(SphinxTransform):
        default_priority = 5  # before ApplySourceWorkaround (10) and Locale (20)

        def apply(self, **kwargs) -> None:
            for table in self.document.findall(nodes.table):
                if not table.source:
                    continue
                for node in table.findall(nodes.TextElement):
                    if node.source is None:
                        node.source, node.line = table.source, table.line

    class ToctreeCaptions(SphinxTransform):
        """Translate the captions of ``_toc.yml``'s parts ("Chapters", "Reference").

        sphinx-external-toc inserts the toctrees (priority 100) after the Locale
        transform (20) has translated the page, so their captions would stay in
        English in the sidebar of every page; gettext extracts them all the same.
        """

        default_priority = 101

        def apply(self, **kwargs) -> None:
            from sphinx import addnodes
            from sphinx.locale import init as init_locale
            from sphinx.util.i18n import docname_to_domain

            domain = docname_to_domain(self.env.docname, self.config.gettext_compact)
            dirs = [str(Path(self.env.srcdir) / d) for d in self.config.locale_dirs]
            catalog, found = init_locale(dirs, self.config.language, domain)
            if not found:
                return
            for toctree in self.document.findall(addnodes.toctree):
                if toctree.get("rawcaption"):
                    toctree["caption"] = catalog.gettext(toctree["rawcaption"])

    app.add_transform(TableCellSources)
    app.add_transform(ToctreeCaptions)
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def _i18n_fixes() -> str:
    """The name of the ``_setup_i18n_fixes`` extension, importable by Sphinx."""
    import types

    if I18N_FIXES not in sys.modules:
        module = types.ModuleType(I18N_FIXES, _setup_i18n_fixes.__doc__)
        module.setup = _setup_i18n_fixes
        sys.modules[I18N_FIXES] = module
    return I18N_FIXES


def _sphinx(builder: str, outdir: Path, doctrees: Path, overrides: dict,
            warnings_are_errors: bool) -> int:
    """Build the book with Jupyter Book's configuration plus ``overrides``."""
    from jupyter_book.sphinx import build_sphinx

    path_config, cli_config = _jupyter_book_config(overrides)
    extensions = _final_config(path_config, cli_config)["extensions"]
    cli_config["extensions"] = [*extensions, _i18n_fixes()]
    if warnings_are_errors:
        cli_config["nitpicky"] = True  # as `jupyter-book build -n`
    result = build_sphinx(
        str(ROOT),
        str(outdir),
        use_external_toc=True,
        noconfig=True,  # as `jupyter-book build`: all settings come from _config.yml
        path_config=str(path_config),
        confoverrides=cli_config,
        doctreedir=str(doctrees),
        builder=builder,
        warningiserror=warnings_are_errors,
        keep_going=warnings_are_errors,
        quiet=True,
    )
    if isinstance(result, BaseException):
        raise result
    return result


def make_pot(outdir: Path = POT_DIR, doctrees: Path | None = None) -> Path:
    """Write the message templates (``.pot``) of the current source to ``outdir``."""
    doctrees = doctrees or outdir.parent / (outdir.name + ".doctrees")
    status = _sphinx(
        "gettext", outdir, doctrees,
        {**COMMON, "nb_execution_mode": "off"},
        warnings_are_errors=False,
    )
    if status:
        raise SystemExit(f"sphinx-build -b gettext failed ({status})")
    return outdir


def templates(pot_dir: Path) -> dict[str, Path]:
    """Page name (``book/01_embeddings``) -> its ``.pot`` file, for pages with text."""
    return {
        p.relative_to(pot_dir).with_suffix("").as_posix(): p
        for p in sorted(pot_dir.rglob("*.pot"))
    }


def _read(path: Path, locale: str | None = None):
    from babel.messages.pofile import read_po

    with path.open("rb") as file:
        return read_po(file, locale=locale)


def _po_text(catalog) -> bytes:
    from babel.messages.pofile import write_po

    out = io.BytesIO()
    write_po(out, catalog, width=76, include_previous=True, ignore_obsolete=True,
             sort_output=False)
    return out.getvalue()


def merged(page: str, pot: Path):
    """The page's catalogue merged with its current template (nothing written)."""
    from babel.messages.catalog import Catalog

    template = _read(pot)
    po_path = CATALOGUES / (page + ".po")
    if po_path.exists():
        catalog = _read(po_path, LANGUAGE)
    else:
        catalog = Catalog(locale=LANGUAGE, domain=page, project=ZH_TITLE,
                          charset="utf-8", fuzzy=False)
    catalog.update(template, update_creation_date=False)
    for message in catalog:
        if message.id and is_display_math(message.id) and (
            message.fuzzy or not message.string
        ):
            message.string, message.flags = message.id, set()
        # Babel wraps a long "#| msgid" (the old English of a fuzzy message)
        # into lines it cannot read back: they return as translator comments,
        # which this project does not use. Drop them, and the old English of a
        # message whose translation is up to date. (So a fuzzy message shows its
        # old English after the update that made it fuzzy, not after a second.)
        message.user_comments = []
        if not message.fuzzy:
            message.previous_id = []
    return catalog


def is_display_math(text: str) -> bool:
    """A ``$$...$$`` block: Sphinx makes it a message, but it has nothing to translate
    (its ``msgstr`` is filled with the same TeX)."""
    return text.startswith("\n") and text.endswith("\n") and len(text) > 2


def update(pages: list[str] | None = None, pot_dir: Path | None = None) -> None:
    """Merge the current English text into the catalogues (``.po``) of ``pages``."""
    pot_dir = pot_dir or make_pot()
    found = templates(pot_dir)
    unknown = sorted(set(pages or []) - set(found))
    if unknown:
        raise SystemExit(f"no such page with text: {unknown}; pages: {sorted(found)}")
    for page in pages or found:
        catalog = merged(page, found[page])
        path = CATALOGUES / (page + ".po")
        text = _po_text(catalog)
        changed = not path.exists() or path.read_bytes() != text
        if changed:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(text)
        print(f"{'updated ' if changed else 'unchanged'} {path.relative_to(ROOT)}: "
              f"{_summary(catalog)}")


def problems(catalog) -> list[tuple[str, str]]:
    """(kind, English text) of every message that needs a translator."""
    found = []
    for message in catalog:
        if not message.id:
            continue  # the header
        if message.fuzzy:
            found.append(("changed (fuzzy)", message.id))
        elif not message.string:
            found.append(("untranslated", message.id))
    return found


def _counts(catalog) -> tuple[int, int, int]:
    total = fuzzy = empty = 0
    for message in catalog:
        if not message.id:
            continue
        total += 1
        fuzzy += bool(message.fuzzy)
        empty += not message.fuzzy and not message.string
    return total, fuzzy, empty


def _summary(catalog) -> str:
    total, fuzzy, empty = _counts(catalog)
    return (f"{total} messages, {total - fuzzy - empty} translated, {fuzzy} fuzzy, "
            f"{empty} untranslated")


def check(pot_dir: Path | None = None) -> list[str]:
    """One line per message that is new, changed or untranslated, naming its file."""
    if pot_dir is None:
        with tempfile.TemporaryDirectory(prefix="book-gettext-") as tmp:
            return check(make_pot(Path(tmp) / "gettext"))
    report = []
    for page, pot in templates(pot_dir).items():
        po = (CATALOGUES / (page + ".po")).relative_to(ROOT)
        for kind, text in problems(merged(page, pot)):
            short = " ".join(text.split())
            short = short if len(short) <= 100 else short[:97] + "..."
            report.append(f"{po}: {kind}: {short!r}")
    return report


def status(pot_dir: Path | None = None) -> None:
    pot_dir = pot_dir or make_pot()
    for page, pot in templates(pot_dir).items():
        print(f"{page + '.po':45} {_summary(merged(page, pot))}")


def html(outdir: Path = HTML_ZH, execution: str = "off") -> int:
    """Build the Chinese edition into ``outdir``, warnings as errors."""
    path_config, cli_config = _jupyter_book_config({})
    theme = copy.deepcopy(_final_config(path_config, cli_config)["html_theme_options"])
    theme["search_bar_text"] = ZH_SEARCH_TEXT
    overrides = {
        **COMMON,
        "language": LANGUAGE,
        "html_title": ZH_TITLE,
        "html_theme_options": theme,
        # The labels of hidden code cells (myst-nb; the book hides only inputs)
        # and of dropdowns (sphinx-togglebutton) are settings, not messages.
        "nb_code_prompt_show": "显示代码",
        "nb_code_prompt_hide": "隐藏代码",
        "togglebutton_hint": "点击显示",
        "togglebutton_hint_hide": "点击隐藏",
        # off: the committed outputs; cache: reuse what the English build executed.
        "nb_execution_mode": execution,
        "nb_execution_cache_path": str(EXECUTION_CACHE),
    }
    return _sphinx("html", outdir, BUILD / ".doctrees-zh", overrides,
                   warnings_are_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("update", help="merge the current English into the .po files")
    p.add_argument("pages", nargs="*", help="e.g. book/06_features (default: all)")
    sub.add_parser("check", help="fail naming every untranslated or changed message")
    sub.add_parser("status", help="message counts per catalogue")
    p = sub.add_parser("html", help=f"build the Chinese HTML into {HTML_ZH.relative_to(ROOT)}")
    p.add_argument("--execution", choices=("cache", "off"), default="off",
                   help="off (default): the outputs saved in the notebooks; cache: reuse "
                        "the English build's executions (make book-fresh)")
    p = sub.add_parser("pot", help="only the .pot templates")
    p.add_argument("folder", nargs="?", type=Path, default=POT_DIR)
    args = parser.parse_args(argv)

    if args.command == "update":
        update(args.pages)
    elif args.command == "check":
        report = check()
        for line in report:
            print(line)
        if report:
            print(f"{len(report)} messages need a translator: see CONTRIBUTING.md, "
                  "'Translating a change'", file=sys.stderr)
            return 1
        print("every message is translated")
    elif args.command == "status":
        status()
    elif args.command == "html":
        status_code = html(execution=args.execution)
        if status_code:
            return status_code
        print(f"The Chinese edition is in {HTML_ZH.relative_to(ROOT)}/: open "
              f"{(HTML_ZH / 'index.html').relative_to(ROOT)} in a browser.")
    elif args.command == "pot":
        print(make_pot(args.folder.resolve()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
