"""A link on every page to the same page in the book's other edition.

The book is built twice from the same source: in English (``_build/html``) and,
through Sphinx's gettext catalogues in ``locale/``, in Chinese
(``_build/html-zh``, see ``locale/i18n.py``). This extension puts a link into
the article header of every page (beside the download and full-screen
buttons) that leads to the same page in the other edition: "中文" in the
English book, "English" in the Chinese one.

The link is relative, ``../html-zh/<page>.html`` from the English edition and
``../html/<page>.html`` from the Chinese one, so it works wherever the two
folders are published side by side (or opened from disk). Publishing them
elsewhere, e.g. the Chinese edition under ``zh/``, is one setting:
``language_switch_editions`` maps each ``language`` to its edition's folder,
relative to the folder that holds both editions.
"""

from __future__ import annotations

from pathlib import Path

# language -> (folder of that edition, relative to the folder holding both;
#              the link's text, in that edition's language; its BCP 47 tag)
DEFAULT_EDITIONS = {
    "en": ("html", "English", "en"),
    "zh_CN": ("html-zh", "中文", "zh-CN"),
}

TEMPLATE = "language-switch.html"


def _other_edition(config) -> tuple[str, str, str]:
    """(the other edition's folder, its label, its language tag)."""
    editions = config.language_switch_editions
    language = config.language or "en"
    if language not in editions or len(editions) != 2:
        raise ValueError(
            f"language_switch_editions must name two editions, one of them for "
            f"language {language!r}; got {sorted(editions)}"
        )
    (other,) = [name for name in editions if name != language]
    return editions[other]


def _add_template(app, config) -> None:
    config.templates_path.append(str(Path(__file__).parent / "templates"))
    config.html_static_path.append(str(Path(__file__).parent / "static"))
    options = config.html_theme_options
    end = options.get("article_header_end", ["article-header-buttons.html"])
    if isinstance(end, str):
        end = [item.strip() for item in end.split(",") if item.strip()]
    if TEMPLATE not in end:
        options["article_header_end"] = [TEMPLATE, *end]
    _other_edition(config)  # fail at start-up on a wrong setting


def _page_context(app, pagename, templatename, context, doctree) -> None:
    other, label, lang = _other_edition(app.config)
    up = "../" * (pagename.count("/") + 1)  # from the page up to the folder above
    context["language_switch"] = {
        "href": f"{up}{other}/{pagename}.html",
        "label": label,
        "lang": lang,
    }


def setup(app):
    app.add_config_value("language_switch_editions", DEFAULT_EDITIONS, "html")
    app.connect("config-inited", _add_template)
    app.connect("html-page-context", _page_context)
    app.add_css_file("language_switch.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
