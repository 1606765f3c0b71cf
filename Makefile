# Everything runs from a project virtualenv (.venv) with the versions pinned in requirements.lock.
# Run state (Airflow home, MLflow store and artifacts, work folders) lives in .state/ (git-ignored).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STATE ?= $(CURDIR)/.state
DATE ?= 1961-01-01
CONF ?= {}

export PIPELINE_HOME := $(CURDIR)
export PIPELINE_STATE_DIR ?= $(STATE)
export AIRFLOW_HOME ?= $(STATE)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__LOAD_EXAMPLES := False
# The operator's deployment config (data path, limits, MLflow names, gate): make run PIPELINE_CONFIG=my.yaml
export PIPELINE_CONFIG ?=
# No MLflow usage telemetry from the pipeline's processes (its thread also races requests on the environment).
export MLFLOW_DISABLE_TELEMETRY ?= true
# A model is loaded only from its signed files (pipeline/ops/signing.py), never unpickled
export MLFLOW_ALLOW_PICKLE_DESERIALIZATION := false
export PIPELINE_TORCH_THREADS ?= 1

FROM ?= 1958-01
TO ?= 1960-12

SERVE_PORT ?= 5001

.PHONY: setup run tune run-panel test chaos lint mlflow-ui serve backfill clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev,stats,services]'
	touch $@

$(AIRFLOW_HOME)/airflow.db: | setup
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(STATE)/airflow-db-migrate.log 2>&1 || { cat $(STATE)/airflow-db-migrate.log; exit 1; }

## run: one real Airflow DAG run of lstm_monthly_retraining for the month ending at DATE (conf: CONF)
run: setup $(AIRFLOW_HOME)/airflow.db
	$(BIN)/airflow dags test lstm_monthly_retraining $(DATE) --conf '$(CONF)'
	@echo "MLflow store: sqlite:///$(PIPELINE_STATE_DIR)/mlflow.db  (browse it with: make mlflow-ui)"

## tune: one real run of the lstm_tuning DAG on the configured data as of DATE (conf: CONF, e.g. tune_trials)
tune: setup $(AIRFLOW_HOME)/airflow.db
	$(BIN)/airflow dags test lstm_tuning $(DATE) --conf '$(CONF)'

## run-panel: the same DAG on the US employment panel (148 series, data/us_employment.csv), the month ending
## 2019-10-01, with the operator config configs/us_employment.yaml (dags test runs the shards one after the other
## in one process; each trains its networks side by side on every core, PIPELINE_TRAIN_THREADS)
run-panel:
	$(MAKE) run PIPELINE_CONFIG=$(CURDIR)/configs/us_employment.yaml DATE=2019-10-01

## test: lint, then the whole test suite (unit, DAG integrity, real Airflow and MLflow runs)
test: setup lint
	$(BIN)/python -m pytest

## chaos: every chaos test on the real stack, the month-long fault campaign too (CHAOS_SEED=N replays a schedule)
chaos: setup
	$(BIN)/python -m pytest -m chaos -s

lint: setup
	$(BIN)/ruff check pipeline dags tests
	$(BIN)/mypy

## mlflow-ui: browse runs and models of the local store on http://127.0.0.1:5000
mlflow-ui: setup
	@echo "MLflow UI: http://127.0.0.1:5000/#/experiments?workflowType=machine_learning (the model-training view)"
	$(BIN)/mlflow ui --backend-store-uri sqlite:///$(PIPELINE_STATE_DIR)/mlflow.db --host 127.0.0.1 --port 5000

## serve: the champion (its signature verified) as a REST scoring server on http://127.0.0.1:$(SERVE_PORT)/invocations
## (POST a history table with Authorization: Bearer $$PIPELINE_SERVE_TOKEN, else .state/keys/serve-token); from the
## local store, or the deployment's MLflow server: eval "$$(scripts/services.sh env scorer)"; make serve
serve: setup
	$(BIN)/python -m pipeline serve --port $(SERVE_PORT)

## backfill: one Airflow DAG run per month FROM..TO, each with that month's as-of data (conf: CONF)
backfill: setup $(AIRFLOW_HOME)/airflow.db
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/python -m pipeline backfill --from $(FROM) --to $(TO) --airflow

clean:
	rm -rf $(STATE)
