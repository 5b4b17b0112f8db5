# kamreview: `make demo` runs a whole review cycle; `make serve` starts the web app; `make test` runs the tests.
# Each installs what it needs.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml constraints.txt | cksum | cut -d' ' -f1)
EXTRAS := embedded,test,dev,bench

.PHONY: venv lock demo serve test lint worker stop bench bench-web clean

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else "kamreview needs Python 3.11 (found %d.%d); set PYTHON=/path/to/python3.11" % sys.version_info[:2])'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing pinned dependencies into $(VENV) ..."
	@$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-* && touch $(STAMP)

venv: $(STAMP)

# Re-resolve the dependencies of pyproject.toml from scratch and write their exact versions to constraints.txt.
lock:
	@rm -rf /tmp/kamreview-lock && $(PYTHON) -m venv /tmp/kamreview-lock
	@/tmp/kamreview-lock/bin/python -m pip install --quiet --disable-pip-version-check -e '.[$(EXTRAS)]'
	@(head -2 constraints.txt; /tmp/kamreview-lock/bin/python -m pip freeze --exclude-editable | grep -v '^kamreview' | sort -f) > constraints.txt.new
	@mv constraints.txt.new constraints.txt && rm -rf /tmp/kamreview-lock && echo "constraints.txt updated"

demo: venv
	@$(BIN)/python starter.py demo

serve: venv
	@$(BIN)/python -m webapp.serve

test: venv
	@$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: venv
	@$(BIN)/ruff check .

worker: venv
	@$(BIN)/python worker.py

stop: venv
	@$(BIN)/python starter.py servers stop

bench: venv
	@$(BIN)/python bench/cycle_bench.py

bench-web: venv
	@$(BIN)/python bench/web_bench.py

clean:
	rm -rf $(VENV) data out
