# Two commands do all the set-up on a fresh machine:
#   make demo   the main job with the built-in model: judge pairs, score labelled pairs,
#               index a few questions and find the duplicates of a new one (installs the
#               core package only: none of the optional groups)
#   make test   run the whole test suite (installs every optional group: their tests need them)
# Both create .venv on first use (VENV=DIR for another place). torch is pinned to the 2.13.0
# CPU build: a looser requirement makes pip fetch a CUDA build of several GB.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip install -q --disable-pip-version-check
VERSION := $(shell cat pyproject.toml | cksum | cut -d' ' -f1)
CORE := $(VENV)/.core-$(VERSION)
STAMP := $(VENV)/.installed-$(VERSION)

.PHONY: demo test install clean

install: $(STAMP)

# The core package: what `make demo` (and a user's `pip install qdup`) needs.
$(CORE): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -e . torch==2.13.0
	rm -f $(VENV)/.core-*
	touch $@

# Everything: the optional groups (milvus, transformers, keras) and the test tools.
$(STAMP): $(CORE)
	$(PIP) -e '.[dev,milvus,transformers,keras]' torch==2.13.0
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(CORE)
	$(BIN)/qdup predict "How do I learn Python?" "What is the best way to learn Python?"
	$(BIN)/qdup predict "How do I learn Python?" "How do I cook rice without a rice cooker?"
	$(BIN)/qdup evaluate examples/toy_pairs.tsv
	$(BIN)/qdup index build examples/questions.txt --out runs/demo-index --force
	$(BIN)/qdup search runs/demo-index "What's the best way for a beginner to learn python?" -k 3

test: $(STAMP) browser
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) runs

# Debian's chromium for the web page test (tests/service/test_web_page.py drives it with Playwright;
# never `playwright install`). CI runs as root; the test also installs it when missing.
.PHONY: browser
browser:
	test -x /usr/bin/chromium || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium)
