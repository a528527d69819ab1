# Two entry points: `make sweep` (the main job) and `make test`. Both build .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Pins checked together on the project's machines; override with CONSTRAINTS= to float.
CONSTRAINTS ?= constraints.txt
PIP_C := $(if $(CONSTRAINTS),-c $(CONSTRAINTS),)
# A laptop-sized study (about 10 minutes on two cores): 8 SAN trials of up to 4 epochs in the space where
# SAN learns digits fast (search_spaces/san_laptop.yaml), ASHA pruning on the signal fid_inception_bf16,
# Inception for the finalists.
SWEEP_ARGS ?= --search-space search_spaces/san_laptop.yaml --num-samples 8 --asha-reduction 2

# Test files run on this many workers, one file per worker at a time (module fixtures run once), each with
# its share of the cores; TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= 2

.PHONY: venv sweep test clean

$(BIN)/gan: pyproject.toml $(CONSTRAINTS)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(PIP_C) -e ".[test,cluster]"
	touch $@

venv: $(BIN)/gan

sweep: venv
	$(BIN)/python sweeps/san_lambda_bs.py $(SWEEP_ARGS)

test: venv
	$(BIN)/python -m pytest -q --durations=30 -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .cache runs mlruns mlflow.db ray_results
