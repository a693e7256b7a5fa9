# Single entry point. `make demo` runs the main job, `make test` the whole test suite;
# both create .venv and install the pinned requirements first (only when they changed).
SHELL := /bin/bash
# Python 3.11.3 or a newer 3.11.x: requirements.txt is resolved and tested on 3.11, and one of its
# pins (gcloud-aio-auth 5.6.0) needs 3.11.3+ (Debian 12's python3.11 is 3.11.2). PYTHON= picks
# the interpreter; otherwise the first suitable one of PYTHON_CANDIDATES is used.
PYTHON_MIN := 3.11.3
PYTHON_OK := import sys; sys.exit(0 if (3, 11, 3) <= tuple(sys.version_info[:3]) < (3, 12) else 1)
PYTHON_VERSION := import sys; print("%d.%d.%d" % tuple(sys.version_info[:3]))
PYTHON_CANDIDATES := python3.11 python3 $(sort $(wildcard $(HOME)/.pyenv/versions/3.11.*/bin/python3.11)) /usr/local/bin/python3.11
ifeq ($(origin PYTHON),undefined)
PYTHON := $(firstword $(foreach p,$(PYTHON_CANDIDATES),$(shell p=$$(command -v $(p) 2>/dev/null) && "$$p" -c '$(PYTHON_OK)' 2>/dev/null && echo "$$p")))
endif
# What was found, for the error message (evaluated only when it is printed).
PYTHON_FOUND = $(or $(strip $(foreach p,$(PYTHON_CANDIDATES),$(shell p=$$(command -v $(p) 2>/dev/null) && echo "$$p=$$("$$p" -c '$(PYTHON_VERSION)' 2>/dev/null || echo '?')"))),no python3 at all)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.requirements-installed
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)
export ADCTR_PROJECT_ROOT := $(CURDIR)

DAYS ?= 14
PYTEST_ARGS ?=

.PHONY: demo test browser check-python install airflow-ui lock clean bench-partition sql-check bench-elt dq bench-dq bench-ingest bench-train bench-quality simulator serve deploy-variant bench-serving bench-scoring bench-backfill bench-variants bench-abn composer-deploy

## Stop at once, saying what is needed and what was found, unless PYTHON is a suitable 3.11.
check-python:
	@if [ -z "$(PYTHON)" ]; then \
	  echo "make: needs Python $(PYTHON_MIN) or a newer 3.11.x (requirements.txt is pinned for 3.11)." >&2; \
	  echo "  found: $(PYTHON_FOUND)" >&2; \
	  echo "  install one (e.g. pyenv install 3.11) and point PYTHON= at it: make $(or $(MAKECMDGOALS),demo) PYTHON=/path/to/python3.11" >&2; \
	  exit 2; fi
	@"$(PYTHON)" -c '$(PYTHON_OK)' 2>/dev/null || { \
	  echo "make: PYTHON=$(PYTHON) is Python $$("$(PYTHON)" -c '$(PYTHON_VERSION)' 2>/dev/null || echo '(not runnable)'); needs $(PYTHON_MIN) or a newer 3.11.x (requirements.txt is pinned for 3.11)." >&2; \
	  echo "  other interpreters found: $(PYTHON_FOUND)" >&2; \
	  echo "  point PYTHON= at a suitable one: make $(or $(MAKECMDGOALS),demo) PYTHON=/path/to/python3.11" >&2; \
	  exit 2; }
	@echo "using $(PYTHON) (Python $$("$(PYTHON)" -c '$(PYTHON_VERSION)'))"

$(PY): | check-python
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP): requirements.txt | $(PY)
	@$(PY) -c '$(PYTHON_OK)' || { echo "make: $(VENV) was made by Python $$($(PY) -c '$(PYTHON_VERSION)'); needs $(PYTHON_MIN) or a newer 3.11.x: rm -rf $(VENV) and re-run (PYTHON= picks the interpreter)" >&2; exit 2; }
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

install: $(STAMP)

## The main job: simulator -> DuckDB -> models -> artifacts, through Airflow, then a summary.
demo: install
	$(PY) -m adctr.local.demo --days $(DAYS)

## Every test tier (unit, integration, real Airflow scheduler). Installs Debian's chromium
## for the Data Docs browser test where it can (root + apt-get).
test: install browser
	$(PY) -m pytest $(PYTEST_ARGS)

## Debian's chromium for the browser tests (they run or fail, never skip): installed here as
## root with apt-get; otherwise make stops and says how to install it.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null 2>&1 || \
	    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }; \
	  fi; \
	  command -v chromium >/dev/null 2>&1 || { \
	    echo "make: the browser tests need Debian's chromium, which is not installed and could not be installed here" >&2; \
	    echo "  (needs root and apt-get). Install it (sudo apt-get install chromium) and re-run." >&2; exit 2; }; }

## Airflow web UI on this project (http://127.0.0.1:8080, login admin / admin).
airflow-ui: install
	$(PY) -m adctr.local.airflow_ui

## Re-resolve requirements.in into the pinned requirements.txt.
lock:
	rm -rf .venv-lock && $(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet --upgrade pip && .venv-lock/bin/pip install --quiet -r requirements.in
	{ echo "# The tested, fully pinned environment (generated from requirements.in by 'make lock';"; \
	  echo "# do not edit by hand). Python 3.11."; .venv-lock/bin/pip freeze; } > requirements.txt
	rm -rf .venv-lock

clean:
	rm -rf var .pytest_cache

## Benchmarks (outside CI): DuckDB partition replacement vs a bare insert; ELT rebuild
## of every daily layer vs the same SQL hand-run.
ROWS ?= 1000000
bench-partition: install
	$(PY) bench/partition_replace.py --rows $(ROWS)

bench-elt: install
	$(PY) bench/elt_rebuild.py --rows-per-day $(ROWS) --days $(or $(BENCH_DAYS),30)

## Render, check and run every SQL model on a throwaway DuckDB with fixture data.
## DRY_RUN=1 with ADCTR_WAREHOUSE=bigquery dry-runs every file on BigQuery instead.
sql-check: install
	$(PY) -m adctr.local.sql_check $(if $(DATE),--date $(DATE)) $(if $(DRY_RUN),--dry-run)

## Validate one table partition by hand: make dq TABLE=raw.ad_performance DATE=2026-11-20
dq: install
	$(PY) -m adctr.quality $(TABLE) $(DATE)

bench-dq: install
	$(PY) bench/dq_validate.py --rows $(ROWS)

## Ingestion: ROWS rows over 3 media, simulator HTTP -> landing -> DuckDB raw, vs an Arrow insert.
bench-ingest: install
	$(PY) bench/ingest_http.py --rows $(ROWS)

## Training: end to end vs bare lightgbm.train; model quality vs the simulator's truth.
bench-train: install
	$(PY) bench/train_speed.py --rows $(or $(TRAIN_ROWS),5000000)

bench-quality: install
	$(PY) bench/model_quality.py

## The ad-media simulator on its own (PORT=0 picks a free port; TODAY moves its clock).
simulator: install
	$(PY) -m adctr.simulator --port $(or $(PORT),8765) $(if $(TODAY),--today $(TODAY))

## The reference scoring service on the serving slots (http://127.0.0.1:8501, PORT to change;
## SLOTS=ctr0,cvr0 to choose; STORE=gs://bucket/prefix for GCS). Hot-loads what the sync puts there.
serve: install
	$(PY) -m adctr.serving --port $(or $(PORT),8501) $(if $(SLOTS),--slots $(SLOTS)) $(if $(STORE),--store $(STORE))

## Deploy a branch's checkout (a git worktree) as a variant beside main, in a free A/B slot:
## WORKTREE=../adctr-exp (then python -m adctr.variants diff|list|retire NAME)
deploy-variant: install
	$(PY) -m adctr.variants deploy --from $(WORKTREE)

## A branch variant's first deployment and nightly run next to main's nightly SQL (time, bytes).
bench-variants: install
	$(PY) bench/variant_cost.py --rows-per-day $(or $(VARIANT_ROWS),100000) --days $(or $(BENCH_DAYS),35)

## The experiment statistics against the simulator's truth: A/A false positives, coverage and
## power, sample-ratio mismatch, over many seeded worlds (bench/README.md).
bench-abn: install
	$(PY) bench/abn_statistics.py --seeds $(or $(SEEDS),200)

## Serving latency/throughput (1 and 1,000 instances) vs bare Booster.predict on the same rows.
bench-serving: install
	$(PY) bench/serving_latency.py --rounds $(or $(ROUNDS),200)

## Batch scoring: score_date end to end (DuckDB) vs bare Booster.predict, peak RSS per size,
## and the BigQuery bill of a 100M-combination run. ROWS="1000000 10000000 30000000" MODEL_TREES=400
## (default sizes 1M and 10M: ROWS only counts when given on the command line or environment).
bench-scoring: install
	$(PY) bench/batch_scoring.py --rows "$(if $(filter command line environment,$(origin ROWS)),$(ROWS),1000000 10000000)" --trees $(or $(MODEL_TREES),400)

## The whole pipeline at production volume through Airflow (LocalExecutor, metadata on the
## PostgreSQL at 127.0.0.1:5432): a BENCH_DAYS-day backfill (30) at ROWS raw rows a day over
## 3 media, every gate, then CTR and CVR retraining; wall time per stage beside their floors.
bench-backfill: install
	$(PY) bench/backfill.py --days $(or $(BENCH_DAYS),30) --rows-per-day $(ROWS)

## Cloud Composer: print (dry run) or run (RUN=1) the bucket sync, packages, env and connections.
##   make composer-deploy BUCKET=gs://<environment bucket> [RUN=1]
composer-deploy: install
	$(PY) -m adctr.local.composer_deploy --bucket $(BUCKET) $(if $(RUN),--run)
