"""Stop Sphinx 7.4 from writing inline ``<script>`` blocks into every page twice.

``Sphinx.add_js_file(None, body=...)`` stores the script under the name ``None``
in the HTML builder, and the builder later adds it again from the registry
under the name ``''``; the two do not compare equal, so each page gets the
block twice. For sphinx-thebe's ``const THEBE_JS_URL = ...`` the second copy
is a JavaScript error in every reader's console ("Identifier 'THEBE_JS_URL'
has already been declared"). Sphinx fixed this in 8.2 (sphinx-doc/sphinx#13402)
by passing ``''`` to the builder; Jupyter Book 1.x requires Sphinx 7, so this
extension applies the same one-line fix.
"""

from __future__ import annotations

from sphinx.builders.html import StandaloneHTMLBuilder


def setup(app):
    original = StandaloneHTMLBuilder.add_js_file
    if not getattr(original, "_none_is_empty", False):

        def add_js_file(self, filename, **kwargs):
            return original(self, filename or "", **kwargs)

        add_js_file._none_is_empty = True
        StandaloneHTMLBuilder.add_js_file = add_js_file
    return {"parallel_read_safe": True, "parallel_write_safe": True}
