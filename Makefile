# usdk: `make demo` records the bundled app and prints the report; `make test` runs every
# test tier this machine can run. Both start with the same idempotent set-up.
VENV ?= $(CURDIR)/.venv
PY := $(VENV)/bin/python
export USDK_VENV := $(VENV)

.PHONY: setup demo test unit lab bench clean

setup:
	@bash scripts/setup.sh

demo: setup
	@$(PY) -m usdk.demo

test: setup
	@$(PY) -m pytest -ra tests

unit: setup
	@$(PY) -m pytest -ra -m unit tests

lab: setup
	@$(PY) -m pytest -ra -m lab tests

bench: setup
	@for b in bench/*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build dist .venv *.egg-info
