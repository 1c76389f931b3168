# Plain entry points. `make test` is what CI runs (.ci/run); it builds .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONNECTOR_VENV := .venv-connector
CONNECTOR_STAMP := $(CONNECTOR_VENV)/.installed-stamp

.PHONY: test sim demo lint format clean fivetran-bundle connector-venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[notebooks,connector,dev]'
	@touch $(STAMP)

# lint (ruff, then mypy strict on accelo_kit as [tool.mypy] in pyproject.toml says) runs before any test
test: $(STAMP) $(CONNECTOR_STAMP) fivetran-bundle chromium lint
	$(BIN)/python -m pytest -q

sim: $(STAMP)
	$(BIN)/accelo-kit sim serve

# The main job on the embedded simulator: notebooks/sync.ipynb run by papermill, as a scheduler would run it.
# papermill's `python3` kernel must be this venv's python whatever ~/.local/share/jupyter holds: the kernelspec is
# registered inside .venv and .venv's jupyter data comes first on JUPYTER_PATH. Paths are absolute, so
# `make -C path/to/accelo-kit demo` works from anywhere; the database is the notebook's default, out/accelo.duckdb
# under the project root (the kernel runs in notebooks/). A second run is incremental.
JUPYTER_DATA := $(CURDIR)/$(VENV)/share/jupyter
KERNEL_STAMP := $(VENV)/.kernel-stamp
DEMO_NOTEBOOK := $(CURDIR)/out/sync-demo.ipynb
DEMO_DB := $(CURDIR)/out/accelo.duckdb

$(KERNEL_STAMP): $(STAMP)
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (ipykernel)" >/dev/null
	@touch $@

demo: $(STAMP) $(KERNEL_STAMP)
	@mkdir -p $(CURDIR)/out
	JUPYTER_PATH=$(JUPYTER_DATA) $(BIN)/papermill -k python3 --cwd $(CURDIR)/notebooks \
		$(CURDIR)/notebooks/sync.ipynb $(DEMO_NOTEBOOK)
	@echo
	@$(BIN)/python -c 'import nbformat, sys; print(*(o.get("text", "") for c in nbformat.read(sys.argv[1], 4).cells \
		if "summary" in c.metadata.get("tags", []) for o in c.outputs), sep="", end="")' $(DEMO_NOTEBOOK)
	@echo
	@echo "executed notebook: $(DEMO_NOTEBOOK)"
	@echo "database:          $(DEMO_DB)  (SIMULATED data, marked so in its sync state)"
	@$(BIN)/accelo-kit status --db $(DEMO_DB)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) $(CONNECTOR_VENV) build .pytest_cache .ruff_cache .mypy_cache .hypothesis out

# The Fivetran bundle: connector.py, the accelo_kit modules it really imports (found by importing it, so the list
# follows the code) and requirements.txt, nothing else. `fivetran debug` and `fivetran deploy` scan the whole project
# folder for imports and deploy uploads it: from build/fivetran the scan is clean and the upload is what Fivetran
# runs (no simulator, DuckDB destination, notebooks or tests). Rebuilt every time: it takes a second.
BUNDLE := build/fivetran

define LIST_CONNECTOR_MODULES
import importlib.util, pathlib, sys
spec = importlib.util.spec_from_file_location("connector", "connector.py")
spec.loader.exec_module(importlib.util.module_from_spec(spec))
root = pathlib.Path.cwd().resolve()
for name, module in sorted(sys.modules.items()):
    if name == "accelo_kit" or name.startswith("accelo_kit."):
        print(pathlib.Path(module.__file__).resolve().relative_to(root))
endef
export LIST_CONNECTOR_MODULES

fivetran-bundle: $(STAMP)
	rm -rf $(BUNDLE)
	mkdir -p $(BUNDLE)
	cp connector.py requirements.txt $(BUNDLE)/
	$(BIN)/python -c "$$LIST_CONNECTOR_MODULES" > $(BUNDLE).modules
	while read -r module; do install -D -m 644 "$$module" "$(BUNDLE)/$$module"; done < $(BUNDLE).modules
	@rm -f $(BUNDLE).modules
	@echo "bundle: $(BUNDLE) (README, Deploy to Fivetran: fivetran debug / fivetran deploy $(BUNDLE))"

# The lean venv the bundle is tested in (tests/connector): only the SDK (the range of pyproject's `connector`
# extra) and requirements.txt, as on Fivetran, so an import the bundle lacks fails there.
$(CONNECTOR_STAMP): requirements.txt
	@test -x $(CONNECTOR_VENV)/bin/python || $(PYTHON) -m venv $(CONNECTOR_VENV)
	$(CONNECTOR_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(CONNECTOR_VENV)/bin/python -m pip install --quiet 'fivetran-connector-sdk>=3.0,<3.1' -r requirements.txt
	@touch $@

connector-venv: $(CONNECTOR_STAMP)

# JupyterLab on 127.0.0.1 with this venv's python3 kernel (its kernelspec first on JUPYTER_PATH), opened on
# notebooks/: explore.ipynb and tune_threads.ipynb run against the embedded simulator unless given a
# configuration.json. Jupyter refuses to run as root without --allow-root; the URL with its token is printed.
.PHONY: lab chromium
lab: $(STAMP) $(KERNEL_STAMP)
	JUPYTER_PATH=$(JUPYTER_DATA) $(BIN)/jupyter lab --no-browser --ip 127.0.0.1 \
		--ServerApp.root_dir=$(CURDIR)/notebooks $(if $(filter 0,$(shell id -u)),--allow-root)

# Debian's Chromium for the browser test (tests/browser; Playwright cannot download browsers here), installed only
# when /usr/bin/chromium is missing, with sudo unless root. If it cannot be installed, the browser test skips
# saying why, or fails under CI=true.
CHROMIUM := /usr/bin/chromium
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@test -x $(CHROMIUM) || { $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
		$(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
		echo "could not install chromium: tests/browser will skip (and fail under CI=true)"

# The benchmark (bench/run.py): the simulator in another process, ideal bounds from its service times.
# `make bench` takes a few minutes and writes bench/results/latest.json; `make bench-quick` is a small version.
.PHONY: bench bench-quick
bench: $(STAMP)
	$(BIN)/python -m bench.run

bench-quick: $(STAMP)
	$(BIN)/python -m bench.run --quick --output out/bench-quick.json

# The chaos suite at full size (issue 8; README, "Chaos and crash testing"): the chaos sync over 50,000 rows,
# hundreds of new stateful sequences, and the slow tests in the broken-variant check. `make test` runs the same
# files scaled. The figures it measured are printed at the end ("chaos figures").
.PHONY: chaos
chaos: $(STAMP)
	ACCELO_KIT_CHAOS=full $(BIN)/python -m pytest -q tests/chaos

# The generated tables of docs/ (configuration keys, resources, module map, CLI options, notebook parameters,
# benchmark figures) rewritten from the code; tests/test_docs.py fails until this has run after a change.
.PHONY: docs
docs: $(STAMP)
	$(BIN)/python tools/gen_docs.py
