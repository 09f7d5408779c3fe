# One command per stage; each sets up the virtual environment first when it is missing.
PYTHON ?= python3
VENV   ?= .venv
REQUIREMENTS ?= requirements.txt
PY     := $(VENV)/bin/python
CONFIG ?= configs/default.yaml
RUN    ?= runs/$(basename $(notdir $(CONFIG)))
SHARED_CORPUS := ../shared/data/fra-eng/fra.txt
CORPUS ?= $(if $(wildcard $(SHARED_CORPUS)),$(SHARED_CORPUS),https://www.manythings.org/anki/fra-eng.zip)
DEFAULT_DATA := data/fra-eng/fra.txt
DATA   := $(or $(shell sed -n 's/^ *corpus: *\([^ #]*\).*/\1/p' $(CONFIG) 2>/dev/null),$(DEFAULT_DATA))
TEXT   ?= I am cold.
ARGS   ?=
# In-graph SentencePiece for exporting subword runs. It asks for the `tensorflow` package, which
# tensorflow-cpu already provides, so it is installed without its dependencies (CPU venv only).
TF_TEXT := tensorflow-text==2.21.1

.PHONY: setup setup-gpu train-gpu data stats train translate evaluate plot serve bench test lint format clean-runs

$(VENV)/.installed: $(REQUIREMENTS)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r $(REQUIREMENTS)
	if [ "$(REQUIREMENTS)" = requirements.txt ]; then $(PY) -m pip install --quiet --no-deps $(TF_TEXT); fi
	touch $@

setup: $(VENV)/.installed  ## create .venv and install requirements.txt

setup-gpu:  ## create .venv-gpu with requirements-gpu.txt (JAX with CUDA, no TensorFlow)
	$(MAKE) setup VENV=.venv-gpu REQUIREMENTS=requirements-gpu.txt

# train-gpu's config: configs/gpu.yaml unless CONFIG is given (make train-gpu CONFIG=configs/gpu-transformer.yaml)
GPU_CONFIG := $(if $(filter command line environment,$(origin CONFIG)),$(CONFIG),configs/gpu.yaml)

train-gpu:  ## train runs/gpu with configs/gpu.yaml (or CONFIG=...) on JAX in .venv-gpu
	$(MAKE) train VENV=.venv-gpu REQUIREMENTS=requirements-gpu.txt CONFIG=$(GPU_CONFIG) \
		RUN=$(if $(filter command line environment,$(origin RUN)),$(RUN),runs/$(basename $(notdir $(GPU_CONFIG))))

$(DEFAULT_DATA): | $(VENV)/.installed
	$(PY) -m translator data --corpus "$(CORPUS)" --out $@

data/%:
	@echo "error: $@ is missing; run make data CORPUS=<its .zip, .txt or URL> first" >&2; exit 2

data: $(VENV)/.installed  ## copy, unzip or download a corpus under data/ (CORPUS=path|url; default fra-eng)
	$(PY) -m translator data --corpus "$(CORPUS)"

stats: $(VENV)/.installed $(DATA)  ## corpus statistics (table + runs/stats.json)
	$(PY) -m translator stats --config $(CONFIG) $(ARGS)

train: $(VENV)/.installed $(DATA)  ## train (or resume) runs/default with configs/default.yaml
	$(PY) -m translator train --config $(CONFIG) --run-dir $(RUN) $(ARGS)

translate: $(VENV)/.installed  ## translate TEXT="..." with runs/default
	$(PY) -m translator translate --run-dir $(RUN) "$(TEXT)" $(ARGS)

evaluate: $(VENV)/.installed  ## BLEU / chrF of runs/default on the test split
	$(PY) -m translator evaluate --run-dir $(RUN) $(ARGS)

plot: $(VENV)/.installed  ## attention heatmaps of a few validation sentences into runs/default/plots
	$(PY) -m translator plot --run-dir $(RUN) $(ARGS)

serve: $(VENV)/.installed  ## the HTTP service and its page for runs/default on http://127.0.0.1:8000/
	$(PY) -m translator serve --run-dir $(RUN) $(ARGS)

bench: $(VENV)/.installed  ## speed benchmark -> runs/benchmark.json and .md
	$(PY) -m scripts.benchmark $(ARGS)

# Two workers, each test file on one (its module fixtures built once): on 2 cores the suite's
# many subprocesses overlap their single-threaded imports and start-up (761 -> 491 s).
test: $(VENV)/.installed  ## the test suite
	$(PY) -m pytest -q -n 2 --dist loadfile $(ARGS)

lint: $(VENV)/.installed  ## ruff: lint rules and formatting (configured in pyproject.toml)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(VENV)/.installed  ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean-runs:  ## delete runs/ (checkpoints, logs, plots)
	rm -rf runs
