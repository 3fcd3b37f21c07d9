# Two commands do all the set-up on a fresh machine:
#   make demo   the main job with the built-in model: judge pairs, score labelled pairs,
#               index a few questions and find the duplicates of a new one
#   make test   run the whole test suite (installs the milvus extra: its tests need the engine)
# Both create .venv on first use. torch is pinned to the 2.13.0 CPU build: a looser
# requirement makes pip fetch a CUDA build of several GB.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test install clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check torch==2.13.0
	$(BIN)/pip install -q --disable-pip-version-check -e '.[dev,milvus,transformers,keras]' torch==2.13.0
	rm -f $(VENV)/.installed-*
	touch $@

demo: $(STAMP)
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
