# magnetar: `make demo` and `make test` work on a fresh machine with only Python 3.
PYTHON ?= python3
VENV   ?= .venv
BIN     = $(VENV)/bin
EXTRAS ?= test,plot,grids,geotiff,ml,crowdmag,iar,compare,cdf,archive
# Real data is read from here first (see magnetar.datasets); absent is fine for the demo.
MAGNETAR_DATA_DIR ?= $(abspath ../shared/data)
export MAGNETAR_DATA_DIR

.PHONY: demo test venv bench validate lint clean

$(BIN)/.installed-$(EXTRAS): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[$(EXTRAS)]"
	touch $@

venv: $(BIN)/.installed-$(EXTRAS)

demo: venv
	$(BIN)/magnetar demo --out demo-output

test: venv
	$(BIN)/python -m pytest -q

bench:
	$(MAKE) venv EXTRAS=test,plot,grids,ml,crowdmag,compare
	$(BIN)/python benchmarks/bench_cleaning.py
	$(BIN)/python benchmarks/bench_grids.py
	$(BIN)/python benchmarks/bench_crowdmag.py
	$(BIN)/python benchmarks/bench_iar.py

validate:
	$(MAKE) venv EXTRAS=test,plot,grids,ml,crowdmag,compare
	$(BIN)/python benchmarks/validate_cleaning.py

lint: venv
	$(BIN)/python -m ruff --version >/dev/null 2>&1 || $(BIN)/python -m pip install --quiet "ruff>=0.5"
	$(BIN)/python -m ruff check src tests benchmarks

clean:
	rm -rf $(VENV) demo-output .pytest_cache
