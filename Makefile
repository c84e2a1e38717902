# The README's two commands:
#   make book   install everything into .venv, build the HTML in English (_build/html)
#               and Chinese (_build/html-zh) from the notebooks' committed outputs
#   make book-fresh  the same, but execute every chapter first (the Chinese build
#               reuses the English build's executions)
#   make timings  execute every chapter in a fresh kernel, one after another, and
#               print wall seconds, CPU seconds and peak memory per chapter
#   make test   install everything into .venv, run the unit tests and nbval on every
#               chapter, the Chinese catalogue check and the browser tests
# For translators: make po [PAGES=book/06_features]  (see CONTRIBUTING.md)
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# TFRS 0.7.7 needs Keras 2; helpers sets these too, this covers every process.
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: install book book-fresh timings test po clean

install: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -c 'import sys; v = sys.version_info[:2]; sys.exit(0 if (3, 11) <= v <= (3, 12) else "Python 3.11 or 3.12 is needed (keras-rs 0.4.0 needs 3.11 or later, TensorFlow 2.20 and scann 1.4.2 at most 3.12), this is %d.%d; set PYTHON=python3.11 or python3.12" % v)'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	$(BIN)/python -m pip install -r requirements.txt
	touch $(STAMP)

book: install
	$(BIN)/jupyter-book build . -W -n --keep-going
	$(BIN)/python locale/i18n.py html --execution off
	@echo "The book is in _build/html/: open _build/html/index.html in a browser."
	@echo "The Chinese edition is in _build/html-zh/: open _build/html-zh/index.html."

# _config.yml says execute_notebooks: off; a copy that says cache, on an empty
# cache, executes every chapter once for both editions.
book-fresh: install
	rm -rf _build/.jupyter_cache
	sed 's/execute_notebooks: "off"/execute_notebooks: cache/' _config.yml > .fresh_config.yml
	$(BIN)/jupyter-book build . -W -n --keep-going --config .fresh_config.yml; \
	  status=$$?; rm -f .fresh_config.yml; exit $$status
	$(BIN)/python locale/i18n.py html --execution cache
	@echo "The book is in _build/html/ and _build/html-zh/ (every chapter executed)."

timings: install
	$(BIN)/python tests/benchmarks/bench_book.py

test: install
	$(BIN)/python -m pytest

# New or changed English text into locale/zh_CN/LC_MESSAGES/*.po, for translating.
po: install
	$(BIN)/python locale/i18n.py update $(PAGES)

clean:
	rm -rf _build .pytest_cache book/saved_models
