# Two entry points for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: install test demo sdk-tour bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]' --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

test: $(STAMP)
	$(PY) -m pytest -n 6 --dist load --maxschedchunk 2 tests  # heaviest first (tests/conftest.py), two at a time

demo: $(STAMP)
	$(PY) scripts/demo.py

sdk-tour: $(STAMP)
	$(PY) scripts/sdk_tour.py

bench: $(STAMP)
	$(PY) -m tests.bench

clean:
	rm -rf $(VENV) .reconciler build *.egg-info
