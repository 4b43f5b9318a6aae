# make demo: set up .venv and run the end-to-end demo; make test: set up and run the tests
# (make test-slow: the long tier CI also runs; make test-all: both).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow test-all bench clean

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	touch $@

demo: $(STAMP)
	$(PY) quickstart.py

test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist worksteal -m "not slow" tests

# The CI tier (tests marked slow): long end-to-end runs; CI runs it after make test.
test-slow: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist worksteal -m slow tests

test-all: test test-slow

bench: $(STAMP)
	$(PY) -m bench all

clean:
	rm -rf $(VENV) .pytest_cache
