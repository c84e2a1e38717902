"""The rendered book as a reader meets it, checked in a real headless browser.

These tests open the built HTML (``_build/html``, made by
``jupyter-book build . -W -n --keep-going``) in Debian's Chromium through
Selenium and ``chromedriver``, served over HTTP on 127.0.0.1 as a reader's
browser would get it. For the start page and every page listed in ``_toc.yml``
they check that

* the page has its title (an ``<h1>`` that the browser tab's title repeats);
* every image loaded (``naturalWidth > 0``);
* the math rendered: every Sphinx math element holds MathJax output
  (``mjx-container``), MathJax reported no TeX error, and no raw ``$...$``,
  ``$$...$$``, ``\\(...\\)`` or ``\\[...\\]`` is left in the visible prose;
* the navigation sidebar links to every page of the table of contents, with
  chapter numbers where the table of contents numbers them, and the page's
  "next" button leads to the following page;
* the browser console shows no errors (``SEVERE`` entries). A missing
  ``favicon.ico`` is the one error ignored: the book has no favicon and
  Chromium asks for one on its own;
* no file the page asked for was missing on the server (HTTP 404);
* no heading is numbered twice (by ``_toc.yml`` and by hand);
* the search page finds each page by a word from its text.

For every numbered chapter they check the book's structure: an opening
paragraph, ``Summary`` and ``Exercises`` sections, solutions in dropdowns and a
link to the next chapter. The bibliography page must show every entry of
``book/references.bib``, and the glossary must define the core terms, each with
its Chinese term.

A full-page screenshot of every page is saved to ``_build/screenshots/`` for
people to look at.

Every test that opens a page runs on both editions of the book, the English one
(``_build/html``) and the Chinese one (``_build/html-zh``, built from the same
source through the catalogues in ``locale/``, see ``locale/i18n.py``); test ids
end in ``-en`` or ``-zh``. In the Chinese edition the structure test looks for
``总结`` and ``练习``, the search test searches for the page's most frequent
Chinese word, and further tests check ``<html lang="zh-CN">`` and that every
heading is in Chinese. On every page of both editions, the language switch in
the header must lead to the same page of the other edition. Its screenshots go
to ``_build/screenshots-zh/``.

Where the book has not been built, or Chromium or chromedriver is not
installed, the tests skip and say why, except when the environment sets
``BOOK_BROWSER_TESTS=require`` (CI does): then they fail with the same message.

Environment variables, all optional:

``BOOK_BROWSER_TESTS=require``
    fail instead of skipping when the book or the browser is missing.
``BOOK_HTML``
    the built HTML folder (default: ``_build/html`` in the repository).
``BOOK_TOC``
    the table of contents to check (default: ``_toc.yml`` in the repository),
    for checking a build made with ``jupyter-book build --toc OTHER.yml``.
``BOOK_SCREENSHOTS``
    where screenshots go (default: ``screenshots`` beside the HTML folder).
``BOOK_HTML_ZH``, ``BOOK_SCREENSHOTS_ZH``
    the same for the Chinese edition (default: ``_build/html-zh`` and
    ``screenshots-zh`` beside it).
``BOOK_CHROMIUM``, ``BOOK_CHROMEDRIVER``
    the browser and driver (default: ``/usr/bin/chromium`` and
    ``/usr/bin/chromedriver``, else whatever ``PATH`` finds).
"""

from __future__ import annotations

import collections
import dataclasses
import http.server
import os
import re
import shutil
import subprocess
import tempfile
import threading
import urllib.parse
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
HTML_DIR = Path(os.environ.get("BOOK_HTML", REPO / "_build" / "html")).resolve()
TOC_PATH = Path(os.environ.get("BOOK_TOC", REPO / "_toc.yml")).resolve()
SCREENSHOT_DIR = Path(
    os.environ.get("BOOK_SCREENSHOTS", HTML_DIR.parent / "screenshots")
).resolve()
HTML_ZH_DIR = Path(
    os.environ.get("BOOK_HTML_ZH", REPO / "_build" / "html-zh")
).resolve()
SCREENSHOT_ZH_DIR = Path(
    os.environ.get("BOOK_SCREENSHOTS_ZH", HTML_ZH_DIR.parent / "screenshots-zh")
).resolve()
REQUIRED = os.environ.get("BOOK_BROWSER_TESTS", "").strip().lower() == "require"

# Seconds to wait for a page (and its MathJax) or a search to finish.
PAGE_TIMEOUT = 20
# Screenshots taller than this are cut off, to keep the files reasonable.
MAX_SCREENSHOT_HEIGHT = 40_000


def _find_executable(env_var: str, default: str, name: str) -> str | None:
    """The path from ``env_var``, else ``default`` if it exists, else ``PATH``."""
    if os.environ.get(env_var):
        return os.environ[env_var]
    if Path(default).exists():
        return default
    return shutil.which(name)


CHROMIUM = _find_executable("BOOK_CHROMIUM", "/usr/bin/chromium", "chromium")
CHROMEDRIVER = _find_executable(
    "BOOK_CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver"
)


# --------------------------------------------------------------------------------------
# The table of contents: which pages the book has, in reading order.


@dataclasses.dataclass(frozen=True)
class TocPage:
    """One page of the table of contents."""

    docname: str  # e.g. "book/01_embeddings", no extension
    numbered: bool  # a top-level chapter of a part that _toc.yml numbers
    part: str  # caption of its part ("" for the root page)

    @property
    def html(self) -> str:
        """Its path under the HTML folder, e.g. ``book/01_embeddings.html``."""
        return self.docname + ".html"


def _docname(file: str) -> str:
    for suffix in (".ipynb", ".md", ".rst"):
        if file.endswith(suffix):
            return file[: -len(suffix)]
    return file


def read_toc(path: Path) -> list[TocPage]:
    """Every page of a Jupyter Book ``_toc.yml`` (format ``jb-book``), in order.

    Entries that are external links (``url:``) are not pages of the book and are
    left out.

    Raises:
        FileNotFoundError: when ``path`` does not exist.
        ValueError: when the file is not a ``jb-book`` table of contents or uses
            ``glob:`` entries, which this test cannot expand.
    """
    if not path.is_file():
        raise FileNotFoundError(
            f"table of contents {path} not found; set BOOK_TOC to the one the book "
            "was built with"
        )
    toc = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(toc, dict) or "root" not in toc:
        raise ValueError(f"{path} is not a Jupyter Book table of contents (no 'root:')")
    if toc.get("format", "jb-book") != "jb-book":
        raise ValueError(
            f"{path}: only 'format: jb-book' is supported, got {toc['format']!r}"
        )

    pages = [TocPage(_docname(toc["root"]), numbered=False, part="")]

    def walk(entries, numbered: bool, part: str, top_level: bool) -> None:
        for entry in entries or []:
            if "glob" in entry:
                raise ValueError(f"{path}: 'glob:' entries are not supported ({entry})")
            if "file" in entry:
                docname = _docname(entry["file"])
                pages.append(TocPage(docname, numbered and top_level, part))
            walk(entry.get("sections"), numbered, part, top_level=False)

    parts = toc.get("parts") or [{"caption": "", "chapters": toc.get("chapters")}]
    for part in parts:
        caption = part.get("caption") or ""
        walk(part.get("chapters"), bool(part.get("numbered")), caption, True)
    return pages


def _toc_or_empty() -> list[TocPage]:
    try:
        return read_toc(TOC_PATH)
    except (FileNotFoundError, ValueError):
        return []  # reported by the `book` fixture, which fails or skips clearly


PAGES = _toc_or_empty()
PAGE_IDS = [page.docname for page in PAGES]


@dataclasses.dataclass(frozen=True)
class Edition:
    """One language edition of the built book."""

    name: str  # "en", "zh": the end of the test ids
    html_dir: Path
    screenshot_dir: Path
    lang: str  # what <html lang="..."> must say
    summary: str  # the headings every chapter ends with
    exercises: str
    search_results: str  # the search page's heading once a search has finished
    build: str  # how to build it


EDITIONS = (
    Edition("en", HTML_DIR, SCREENSHOT_DIR, "en", "Summary", "Exercises",
            "Search Results", "jupyter-book build . -W -n --keep-going"),
    Edition("zh", HTML_ZH_DIR, SCREENSHOT_ZH_DIR, "zh-CN", "总结", "练习",
            "搜索结果", "python locale/i18n.py html, after the English build"),
)


def _why_not_built(edition: Edition) -> str | None:
    """Why this edition cannot be tested, or None when it is built."""
    if not (edition.html_dir / "index.html").is_file():
        return (
            f"the book's {edition.name} edition is not built: "
            f"{edition.html_dir / 'index.html'} does not exist (run `make book`, or "
            f"`{edition.build}`)"
        )
    return None


def _why_unavailable() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if all(_why_not_built(edition) for edition in EDITIONS):
        return _why_not_built(EDITIONS[0])
    if CHROMIUM is None or not Path(CHROMIUM).exists():
        return "Chromium is not installed (apt-get install -y chromium chromium-driver)"
    if CHROMEDRIVER is None or not Path(CHROMEDRIVER).exists():
        return "chromedriver is not installed (apt-get install -y chromium-driver)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "Selenium is not installed (pip install -r requirements.txt)"
    try:
        read_toc(TOC_PATH)
    except (FileNotFoundError, ValueError) as error:
        return str(error)
    return None


UNAVAILABLE = _why_unavailable()

pytestmark = pytest.mark.skipif(
    UNAVAILABLE is not None and not REQUIRED,
    reason=(
        f"browser tests skipped: {UNAVAILABLE} "
        "(set BOOK_BROWSER_TESTS=require to fail instead)"
    ),
)


# --------------------------------------------------------------------------------------
# Serving the HTML and driving the browser.


class _Server:
    """``_build/html`` over HTTP on 127.0.0.1, on a free port, in a thread."""

    def __init__(self, directory: Path) -> None:
        self.missing: list[str] = []  # paths answered with 404
        missing = self.missing

        class Handler(http.server.SimpleHTTPRequestHandler):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, directory=str(directory), **kwargs)

            def send_error(self, code, message=None, explain=None):
                if code == 404:
                    missing.append(urllib.parse.urlsplit(self.path).path)
                super().send_error(code, message, explain)

            def log_message(self, format, *args):  # noqa: A002 (the base class's name)
                pass  # keep the test output clean

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> "_Server":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


def _start_browser(profile_dir: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1280,1000",
        f"--user-data-dir={profile_dir}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(PAGE_TIMEOUT)
    driver.set_script_timeout(PAGE_TIMEOUT)
    return driver


# JavaScript run in the page. Each returns plain JSON-able data.

_WAIT_FOR_MATHJAX = """
const done = arguments[arguments.length - 1];
const mj = window.MathJax;
if (!mj || !mj.startup || !mj.startup.promise) { done("no MathJax"); return; }
mj.startup.promise.then(() => done("ok"), (e) => done("MathJax failed: " + e));
"""

_LOAD_IMAGES = """
const done = arguments[arguments.length - 1];
const images = Array.from(document.images);
images.forEach((img) => { img.loading = "eager"; });
Promise.all(images.map((img) => img.complete ? null : new Promise((resolve) => {
  img.addEventListener("load", resolve); img.addEventListener("error", resolve);
}))).then(() => done(images.map((img) => ({
  src: img.getAttribute("src"), naturalWidth: img.naturalWidth,
}))));
"""

_PAGE_FACTS = """
const article = document.querySelector("article.bd-article") || document.body;
const h1 = article.querySelector("h1");
let heading = "";
if (h1) {
  const copy = h1.cloneNode(true);
  copy.querySelectorAll(".headerlink, .section-number").forEach((e) => e.remove());
  heading = copy.textContent.trim();
}
// Prose as the reader sees it: no code, no rendered math.
const prose = article.cloneNode(true);
prose.querySelectorAll("pre, code, script, style, textarea, mjx-container, .highlight")
  .forEach((e) => e.remove());
const mathElements = Array.from(article.querySelectorAll(".math"));
const nav = document.querySelector("nav.bd-docs-nav");
const navLinks = nav ? Array.from(nav.querySelectorAll("a")).map((a) => ({
  href: a.href, text: a.textContent.trim(),
})) : null;
const next = document.querySelector("a.right-next");
const plain = (h) => {
  const copy = h.cloneNode(true);
  copy.querySelectorAll(".headerlink, .section-number").forEach((e) => e.remove());
  return copy.textContent.trim();
};
const top = article.querySelector("section");
// Headings numbered twice: by the table of contents and by hand ("1.1. 1. Data").
const doubleNumbered = Array.from(article.querySelectorAll("h1, h2, h3, h4"))
  .filter((h) => h.querySelector(".section-number")
    && /^\d+(\.\d+)*\.?\s/.test(plain(h)))
  .map((h) => h.textContent.replace("#", "").trim());
const sections = Array.from(article.querySelectorAll("section > h2")).map((h) => ({
  heading: plain(h),
  dropdowns: h.parentElement.querySelectorAll(".admonition.dropdown, details").length,
}));
const glossary = Array.from(article.querySelectorAll("dl.glossary > dt")).map((dt) => {
  let dd = dt.nextElementSibling;
  while (dd && dd.tagName !== "DD") dd = dd.nextElementSibling;
  const chinese = dd ? /[\u4e00-\u9fff]/.test(dd.textContent) : false;
  return {term: plain(dt), chinese: chinese};
});
const switchLink = document.querySelector("a.language-switch");
// Code a reader would have to scroll sideways to read: cells and literal blocks, not
// outputs, measured with every dropdown open (a closed one lays nothing out).
const closed = Array.from(document.querySelectorAll("details:not([open])"));
closed.forEach((d) => { d.open = true; });
const overflowingCode = Array.from(article.querySelectorAll("div.highlight pre"))
  .filter((p) => !p.closest(".cell_output, .output") && p.scrollWidth > p.clientWidth + 1)
  .map((p) => p.textContent.split("\\n").reduce((a, b) => (b.length > a.length ? b : a), ""));
closed.forEach((d) => { d.open = false; });
return {
  overflowingCode: overflowingCode,
  lang: document.documentElement.lang,
  headings: Array.from(article.querySelectorAll("h1, h2, h3, h4")).map(plain),
  languageSwitch: switchLink ? {
    href: switchLink.getAttribute("href"),
    text: switchLink.textContent.trim(),
    visible: switchLink.offsetParent !== null,
  } : null,
  title: document.title,
  glossary: glossary,
  heading: heading,
  prose: prose.textContent,
  mathElements: mathElements.length,
  mathRendered: mathElements.filter((e) => e.querySelector("mjx-container")).length,
  mathErrors: article.querySelectorAll("mjx-merror").length,
  navLinks: navLinks,
  next: next ? next.href : null,
  // Paragraphs before the first numbered section: what the reader will learn.
  introParagraphs: top
    ? Array.from(top.children).filter((e) => e.tagName === "P").length : 0,
  sections: sections,
  doubleNumbered: doubleNumbered,
  links: Array.from(article.querySelectorAll("a[href]")).map((a) => a.href),
  height: Math.max(document.body.scrollHeight, document.documentElement.scrollHeight),
  width: document.documentElement.scrollWidth,
};
"""

_SEARCH_DONE = """
const title = document.querySelector("#search-results h2");
if (!title || title.textContent.trim() !== arguments[0]) return null;
return Array.from(document.querySelectorAll("#search-results ul.search li a"))
  .map((a) => a.href);
"""


@dataclasses.dataclass
class PageVisit:
    """What the browser saw on one page."""

    url: str  # the address the browser ended at
    facts: dict
    images: list[dict]
    mathjax: str
    console_errors: list[str]
    missing_files: list[str]
    screenshot: Path


def _url_path(url: str) -> str:
    """The path of an address, without query or fragment: ``/book/intro.html``."""
    return urllib.parse.urlsplit(url).path


# Console errors with a known cause in the book's configuration, and the fix.
_KNOWN_CONSOLE_ERRORS = {
    "THEBE_JS_URL' has already been declared": (
        "Sphinx 7.4 writes inline <script> blocks twice (sphinx-doc/sphinx#13402); "
        "load the book's local Sphinx extension that fixes it (`local_extensions` "
        "in _config.yml)"
    ),
    "Got invalid theme mode": (
        "pydata-sphinx-theme logs this on a reader's first visit when no default "
        "colour mode is set; set `html_context: {default_mode: light}` under "
        "`sphinx: config:` in _config.yml"
    ),
}


def _console_report(page: str, errors: list[str]) -> str:
    hints = [hint for text, hint in _KNOWN_CONSOLE_ERRORS.items()
             if any(text in error for error in errors)]
    return f"{page}: browser console errors: {errors}" + "".join(
        f"\n  hint: {hint}" for hint in hints
    )


def _is_ignored_console_error(entry: dict) -> bool:
    # Chromium requests /favicon.ico by itself; the book has none.
    return "favicon.ico" in entry.get("message", "")


class Book:
    """A browser on the served book that visits each page once and remembers it."""

    def __init__(self, driver, server: _Server, edition: Edition) -> None:
        self.driver = driver
        self.server = server
        self.edition = edition
        self.visits: dict[str, PageVisit] = {}

    def url(self, html_path: str) -> str:
        return self.server.url + html_path

    def visit(self, html_path: str) -> PageVisit:
        if not (self.edition.html_dir / html_path).is_file():
            pytest.fail(
                f"{html_path} is listed in {TOC_PATH.name} but not built in "
                f"{self.edition.html_dir}: rebuild the book with the same table of "
                "contents",
                pytrace=False,
            )
        if html_path not in self.visits:
            self.visits[html_path] = self._visit(html_path)
        return self.visits[html_path]

    def _visit(self, html_path: str) -> PageVisit:
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.support.ui import WebDriverWait

        driver = self.driver
        driver.get_log("browser")  # drop entries left from the previous page
        missing_before = len(self.server.missing)
        driver.get(self.url(html_path))
        WebDriverWait(driver, PAGE_TIMEOUT).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )
        if html_path == "index.html":  # a redirect to the root page: wait for it
            wait = WebDriverWait(
                driver, PAGE_TIMEOUT, ignored_exceptions=(WebDriverException,)
            )
            wait.until(
                lambda d: not _url_path(d.current_url).endswith("/index.html")
                and d.execute_script("return document.readyState") == "complete",
                message="index.html did not redirect to another page",
            )
        mathjax = driver.execute_async_script(_WAIT_FOR_MATHJAX)
        images = driver.execute_async_script(_LOAD_IMAGES)
        facts = driver.execute_script(_PAGE_FACTS)
        screenshot = self._screenshot(html_path, facts)
        console = self._console_errors()
        missing = [
            path
            for path in self.server.missing[missing_before:]
            if path != "/favicon.ico"
        ]
        return PageVisit(
            driver.current_url, facts, images, mathjax, console, missing, screenshot
        )

    def _screenshot(self, html_path: str, facts: dict) -> Path:
        """A full-page PNG (up to MAX_SCREENSHOT_HEIGHT pixels tall).

        The viewport is made as tall as the page, so that the theme lays the
        page out once, as a reader scrolling through it would see it, then
        restored.
        """
        import base64

        self.edition.screenshot_dir.mkdir(parents=True, exist_ok=True)
        name = html_path.removesuffix(".html").replace("/", "_") + ".png"
        path = self.edition.screenshot_dir / name
        driver = self.driver
        width = driver.execute_script("return window.innerWidth")
        height = min(facts["height"], MAX_SCREENSHOT_HEIGHT)
        for _ in range(3):  # a taller viewport can change the page's height
            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {
                    "width": width,
                    "height": height,
                    "deviceScaleFactor": 1,
                    "mobile": False,
                },
            )
            new_height = min(
                driver.execute_script("return document.documentElement.scrollHeight"),
                MAX_SCREENSHOT_HEIGHT,
            )
            if new_height == height:
                break
            height = new_height
        try:
            shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png"})
        finally:
            driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def _console_errors(self) -> list[str]:
        return [
            entry["message"]
            for entry in self.driver.get_log("browser")
            if entry["level"] == "SEVERE" and not _is_ignored_console_error(entry)
        ]

    def search(self, word: str) -> tuple[list[str], list[str]]:
        """The addresses the book's search page lists for ``word``, and the
        console errors of the search page."""
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver.get_log("browser")  # drop entries left from the previous page
        self.driver.get(self.url("search.html?q=" + urllib.parse.quote(word)))
        results = WebDriverWait(self.driver, PAGE_TIMEOUT).until(
            lambda d: d.execute_script(_SEARCH_DONE, self.edition.search_results),
            message=f"the search for {word!r} did not finish",
        )
        return results, self._console_errors()


@pytest.fixture(scope="session", params=EDITIONS, ids=[e.name for e in EDITIONS])
def book(request):
    """One edition of the served book in a headless Chromium, for the whole session."""
    edition = request.param
    if UNAVAILABLE is not None:
        pytest.fail(f"BOOK_BROWSER_TESTS=require, but {UNAVAILABLE}", pytrace=False)
    not_built = _why_not_built(edition)
    if not_built:
        if REQUIRED:
            pytest.fail(f"BOOK_BROWSER_TESTS=require, but {not_built}", pytrace=False)
        pytest.skip(not_built)
    with tempfile.TemporaryDirectory(prefix="book-chromium-") as profile, _Server(
        edition.html_dir
    ) as server:
        driver = _start_browser(profile)
        try:
            yield Book(driver, server, edition)
        finally:
            driver.quit()


# --------------------------------------------------------------------------------------
# The tests.

# Raw TeX delimiters that MathJax should have replaced. A single-dollar span
# follows MyST's dollarmath rules: no space just inside the dollars and no digit
# right after the closing one (so "$5 and $10" is not math).
_RAW_MATH = [
    re.compile(r"\$\$.+?\$\$", re.S),
    re.compile(r"(?<![\\$])\$(?=\S)[^$\n]+?(?<=\S)\$(?!\d)"),
    re.compile(r"\\\(.+?\\\)", re.S),
    re.compile(r"\\\[.+?\\\]", re.S),
]


def test_table_of_contents_is_readable():
    """_toc.yml parses and lists the start page and at least one more page."""
    pages = read_toc(TOC_PATH)
    assert len(pages) >= 2, f"{TOC_PATH} lists only {pages}"
    docnames = [p.docname for p in pages]
    assert len(set(docnames)) == len(docnames), f"a page is listed twice in {TOC_PATH}"


def test_start_page_opens_the_root_page(book):
    """``index.html`` sends the reader to the root page of the table of contents."""
    visit = book.visit("index.html")
    root = PAGES[0]
    assert _url_path(visit.url) == "/" + root.html, (
        f"index.html should lead to {root.html}, but the browser ended at {visit.url}"
    )
    assert visit.facts["heading"], "the start page has no <h1> title"
    assert not visit.console_errors, _console_report(
        "index.html (a reader's first visit)", visit.console_errors
    )


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_page_has_its_title(book, page):
    visit = book.visit(page.html)
    heading, title = visit.facts["heading"], visit.facts["title"]
    assert heading, f"{page.html} has no <h1> title"
    # Numbered chapters carry their number in the tab title: "1. Embeddings ...".
    title = re.sub(r"^\d+(\.\d+)*\.?\s+", "", title) if page.numbered else title
    assert title.startswith(heading), (
        f"{page.html}: the browser tab says {title!r}, which does not start with the "
        f"page's heading {heading!r}"
    )


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_no_code_is_cut_at_the_right_edge(book, page):
    """In a 1,280-pixel window every code line fits its box (_static/code.css sets
    code at 11.6 px, which holds 88 characters); outputs, such as wide tables, may scroll."""
    wide = book.visit(page.html).facts["overflowingCode"]
    assert not wide, (
        f"{page.html}: {len(wide)} code block(s) wider than the page shows at 1,280 px; "
        "keep code lines within 88 characters (CONTRIBUTING.md), longest lines: "
        + "; ".join(repr(line.strip()[:90]) for line in wide)
    )


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_every_image_loaded(book, page):
    visit = book.visit(page.html)
    broken = [image["src"] for image in visit.images if not image["naturalWidth"]]
    assert not broken, f"{page.html}: images that did not load: {broken}"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_math_is_rendered(book, page):
    visit = book.visit(page.html)
    facts = visit.facts
    if facts["mathElements"]:
        assert visit.mathjax == "ok", (
            f"{page.html} has math but MathJax: {visit.mathjax}"
        )
        assert facts["mathRendered"] == facts["mathElements"], (
            f"{page.html}: only {facts['mathRendered']} of {facts['mathElements']} "
            "math elements hold MathJax output"
        )
        assert facts["mathErrors"] == 0, (
            f"{page.html}: MathJax reports {facts['mathErrors']} TeX error(s)"
        )
    raw = [
        match.group(0)[:60]
        for pattern in _RAW_MATH
        for match in pattern.finditer(facts["prose"])
    ]
    assert not raw, f"{page.html}: math left as raw TeX in the text: {raw}"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_sidebar_links_to_every_page(book, page):
    visit = book.visit(page.html)
    links = visit.facts["navLinks"]
    assert links is not None, f"{page.html} has no navigation sidebar (nav.bd-docs-nav)"
    # The page's own entry links to "#", which the browser resolves to the page.
    targets = {_url_path(link["href"]) for link in links}
    missing = [p.html for p in PAGES if "/" + p.html not in targets]
    assert not missing, f"the sidebar of {page.html} does not link to {missing}"


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_no_heading_is_numbered_twice(book, page):
    """Chapters number their sections by hand (## 1. ...); the table of contents
    must then number only the chapters (``numbered: 1`` in _toc.yml)."""
    doubled = book.visit(page.html).facts["doubleNumbered"]
    assert not doubled, (
        f"{page.html}: headings numbered twice, by _toc.yml and by hand: "
        f"{doubled[:3]}; use `numbered: 1` in _toc.yml so that only chapters "
        "get numbers"
    )


def test_sidebar_numbers_the_chapters(book):
    """Pages of numbered parts carry increasing chapter numbers in the sidebar."""
    visit = book.visit(PAGES[0].html)
    text_of = {
        _url_path(link["href"]): link["text"] for link in visit.facts["navLinks"]
    }
    by_part: dict[str, list[TocPage]] = collections.defaultdict(list)
    for page in PAGES:
        if page.numbered:
            by_part[page.part].append(page)
    if not by_part:
        pytest.skip(f"{TOC_PATH} has no numbered part yet")
    for part, pages in by_part.items():
        numbers = []
        for page in pages:
            text = text_of.get("/" + page.html, "")
            match = re.match(r"(\d+)\.\s", text)
            assert match, f"sidebar entry for {page.html} is not numbered: {text!r}"
            numbers.append(int(match.group(1)))
        assert numbers == sorted(set(numbers)), (
            f"chapter numbers of part {part!r} are not increasing: {numbers}"
        )


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_next_button_follows_the_table_of_contents(book, page):
    visit = book.visit(page.html)
    position = PAGES.index(page)
    if position + 1 < len(PAGES):
        expected = "/" + PAGES[position + 1].html
        assert visit.facts["next"] and _url_path(visit.facts["next"]) == expected, (
            f"{page.html}: the 'next' button leads to {visit.facts['next']}, "
            f"expected {expected}"
        )
    else:
        assert visit.facts["next"] is None, (
            f"{page.html} is the last page but has a 'next' button to "
            f"{visit.facts['next']}"
        )


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_no_console_errors(book, page):
    visit = book.visit(page.html)
    assert not visit.console_errors, _console_report(page.html, visit.console_errors)
    assert not visit.missing_files, (
        f"{page.html}: files not found (404): {visit.missing_files}"
    )


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_screenshot_saved(book, page):
    visit = book.visit(page.html)
    data = visit.screenshot.read_bytes()
    assert data.startswith(b"\x89PNG"), f"{visit.screenshot} is not a PNG"
    # The PNG header holds width and height; a blank page would be tiny.
    width = int.from_bytes(data[16:20], "big")
    height = int.from_bytes(data[20:24], "big")
    assert width >= 800 and height >= 600, (
        f"{visit.screenshot} is only {width}x{height} pixels"
    )


CHAPTERS = [page for page in PAGES if page.numbered]


@pytest.mark.parametrize("page", CHAPTERS, ids=[page.docname for page in CHAPTERS])
def test_chapter_has_the_book_structure(book, page):
    """Opens with what the reader will learn; ends with Summary and Exercises
    (solutions in dropdowns) and a link to the next chapter."""
    facts = book.visit(page.html).facts
    assert facts["introParagraphs"] >= 1, (
        f"{page.html} does not open with a paragraph before its first section"
    )
    headings = [section["heading"] for section in facts["sections"]]
    for required in (book.edition.summary, book.edition.exercises):
        assert required in headings, (
            f"{page.html} has no '## {required}' section: {headings}"
        )
    exercises = facts["sections"][headings.index(book.edition.exercises)]
    assert exercises["dropdowns"] >= 1, (
        f"{page.html}: the Exercises section has no solution in a dropdown "
        "(```{admonition} Solution + :class: dropdown)"
    )
    position = CHAPTERS.index(page)
    if position + 1 < len(CHAPTERS):
        following = CHAPTERS[position + 1].html
        linked = {_url_path(href) for href in facts["links"]}
        assert "/" + following in linked, (
            f"{page.html} does not link to the next chapter, {following}"
        )


def test_a_chinese_font_is_installed():
    """The glossary's Chinese terms need a CJK font, or screenshots show boxes.

    Readers' browsers have one; a bare CI image may not
    (apt-get install -y fonts-noto-cjk, or the smaller fonts-wqy-microhei).
    """
    fc_list = shutil.which("fc-list")
    families = ""
    if fc_list:
        families = subprocess.run(
            [fc_list, ":lang=zh", "family"], capture_output=True, text=True, check=False
        ).stdout.strip()
    if not families:
        message = (
            "no Chinese font installed (fc-list :lang=zh is empty): screenshots of the "
            "glossary will show boxes; apt-get install -y fonts-noto-cjk"
        )
        if REQUIRED:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


_STOP_WORDS = frozenset(
    "about above after again against because before being below between could "
    "does doing during every further having itself other should their theirs "
    "themselves there these those through under until which while would".split()
)


def _search_word(prose: str) -> str:
    """The page's most frequent word of 7+ letters (ties: alphabetical)."""
    words = [w.lower() for w in re.findall(r"\b[A-Za-z]{7,}\b", prose)]
    counts = collections.Counter(w for w in words if w not in _STOP_WORDS)
    if not counts:
        return ""
    return min(counts, key=lambda w: (-counts[w], w))


# Words too common to pick out a page (Sphinx's Chinese search also ignores some).
_CHINESE_STOP_WORDS = frozenset(
    "我们 你们 他们 它们 一个 这个 那个 这些 那些 可以 没有 就是 什么 因为 所以 如果 "
    "不是 还是 以及 或者 而且 但是 每个 一样 这样 那样 这里 只有 已经 为什么 之后 之前 "
    "时候 的话 也是 都是 而是 得到 需要 其中 同时 其他".split()
)


def _chinese_search_word(prose: str) -> str:
    """The page's most frequent Chinese word of 2+ characters, cut as the search
    index cuts it (jieba; ties: by code point)."""
    import jieba

    words = [
        w for w in jieba.cut_for_search(prose)
        if len(w) >= 2 and re.fullmatch(r"[\u4e00-\u9fff]+", w)
        and w not in _CHINESE_STOP_WORDS
    ]
    counts = collections.Counter(words)
    if not counts:
        return ""
    return min(counts, key=lambda w: (-counts[w], w))


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_search_finds_the_page(book, page):
    """Searching for the page's most frequent long word lists the page."""
    prose = book.visit(page.html).facts["prose"]
    if book.edition.name == "zh":
        word = _chinese_search_word(prose)
        assert word, f"{page.html} has no Chinese word to search for"
    else:
        word = _search_word(prose)
        assert word, f"{page.html} has no word of 7+ letters to search for"
    hrefs, console_errors = book.search(word)
    assert not console_errors, _console_report("search.html", console_errors)
    results = {_url_path(href) for href in hrefs}
    assert "/" + page.html in results, (
        f"searching for {word!r} (the most frequent long word of {page.html}) "
        f"lists {sorted(results)}, not {page.html}"
    )


def test_bibliography_lists_every_reference(book):
    """Every entry of book/references.bib appears on the bibliography page."""
    pages = [p for p in PAGES if p.docname.endswith("bibliography")]
    if not pages:
        pytest.fail(f"{TOC_PATH} lists no bibliography page")
    # The bibliography style writes titles in sentence case: compare without case.
    prose = " ".join(book.visit(pages[0].html).facts["prose"].split()).lower()
    bib = (REPO / "book" / "references.bib").read_text(encoding="utf-8")
    titles = re.findall(r"^\s*title\s*=\s*\{(.+)\},?\s*$", bib, flags=re.M)
    assert titles, "no titles found in book/references.bib"
    missing = []
    for title in titles:
        plain = " ".join(title.replace("{", "").replace("}", "").replace("\\&", "&").split())
        if plain.lower() not in prose:
            missing.append(plain)
    assert not missing, f"the bibliography page does not show: {missing}"


# The terms issue 8 asks the glossary to define, at least.
GLOSSARY_TERMS = (
    "retrieval", "ranking", "embedding", "query tower", "candidate tower",
    "affinity score", "collaborative filtering", "matrix factorization", "SGD",
    "WALS", "in-batch negatives", "top-k accuracy",
)


def test_glossary_defines_the_terms_in_english_and_chinese(book):
    pages = [p for p in PAGES if p.docname.endswith("glossary")]
    if not pages:
        pytest.fail(f"{TOC_PATH} lists no glossary page")
    entries = book.visit(pages[0].html).facts["glossary"]
    # Chinese headwords keep the English term in parentheses: "召回（retrieval）".
    terms = {
        part.strip().lower()
        for entry in entries
        for part in re.split(r"[（）()]", entry["term"])
    }
    missing = [t for t in GLOSSARY_TERMS if t.lower() not in terms]
    assert not missing, f"the glossary does not define {missing}"
    untranslated = [entry["term"] for entry in entries if not entry["chinese"]]
    assert not untranslated, (
        f"glossary entries without their Chinese term: {untranslated}"
    )


def _edition(name: str) -> Edition:
    return next(edition for edition in EDITIONS if edition.name == name)


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_page_declares_its_language(book, page):
    """``<html lang>`` says the edition's language (screen readers, fonts, search)."""
    lang = book.visit(page.html).facts["lang"]
    assert lang == book.edition.lang, (
        f"{book.edition.name} edition, {page.html}: <html lang={lang!r}>, expected "
        f"{book.edition.lang!r}"
    )


@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_language_switch_leads_to_the_same_page_in_the_other_edition(book, page):
    """A visible link in the header leads to this page in the other edition."""
    switch = book.visit(page.html).facts["languageSwitch"]
    assert switch, (
        f"{book.edition.name} edition, {page.html} has no language switch "
        "(a.language-switch, from _ext/language_switch.py)"
    )
    assert switch["visible"], f"{page.html}: the language switch is hidden"
    other = _edition("zh" if book.edition.name == "en" else "en")
    target = os.path.normpath(
        book.edition.html_dir / Path(page.html).parent / switch["href"]
    )
    expected = os.path.normpath(other.html_dir / page.html)
    assert target == expected, (
        f"{book.edition.name} edition, {page.html}: the language switch "
        f"({switch['text']!r}) leads to {target}, expected {expected}"
    )
    if _why_not_built(other) is None:
        assert Path(target).is_file(), f"{page.html}: {target} does not exist"


@pytest.mark.parametrize("book", [_edition("zh")], ids=["zh"], indirect=True)
@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_interface_labels_are_in_chinese(book, page):
    """The sidebar's part captions, and the labels of hidden code and of dropdowns.

    The captions (``caption:`` in _toc.yml) are messages of book/intro.po that
    locale/i18n.py's ToctreeCaptions applies; the labels are settings of
    myst-nb and sphinx-togglebutton, set in the overrides of its html().
    """
    html = (book.edition.html_dir / page.html).read_text(encoding="utf-8")
    captions = re.findall(r'class="caption"[^>]*><span class="caption-text">([^<]*)<', html)
    assert captions, f"zh edition, {page.html}: no part captions in the sidebar"
    english = [c for c in captions if not re.search(r"[\u4e00-\u9fff]", c)]
    english += [label for label in ("Show code cell", "Hide code cell", "Click to show",
                                    "Click to hide") if label in html]
    assert not english, f"zh edition, {page.html}: English interface text {english}"


@pytest.mark.parametrize("book", [_edition("zh")], ids=["zh"], indirect=True)
@pytest.mark.parametrize("page", PAGES, ids=PAGE_IDS)
def test_headings_are_in_chinese(book, page):
    """Every heading of the Chinese edition is translated (has Chinese characters)."""
    headings = book.visit(page.html).facts["headings"]
    english = [h for h in headings if not re.search(r"[\u4e00-\u9fff]", h)]
    assert not english, (
        f"zh edition, {page.html}: headings not in Chinese: {english}; translate "
        f"them in locale/zh_CN/LC_MESSAGES/{page.docname}.po (see /CONTRIBUTING.md)"
    )
