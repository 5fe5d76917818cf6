# One command to run the system, one to test it. Everything installs into .venv from pyproject.toml.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: install system-packages demo up test test-unit test-integration test-e2e faults bench broker generate check-generated check-postgres clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Python 3.11 is needed (python3.11 not found)"; exit 1; }
	@$(MAKE) --no-print-directory system-packages
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@rm -f $(VENV)/.installed-*
	@touch $@

## Debian's PostgreSQL too, installed and started when missing (deploy/local/postgres.sh), and Apache Kafka's jars,
## fetched from Maven Central by deploy/local/kafka/pom.xml into var/kafka/<version>/libs: the tests need both.
install: $(STAMP)
	@deploy/local/postgres.sh
	@$(BIN)/python -m services.common.kafkaserver --fetch-only

## Fonts the reports, dossiers and console render Chinese with (Debian's fonts-noto-cjk), HarfBuzz's subsetter
## that embeds them in a PDF in a second instead of many, Debian's Chromium, which the console's browser
## tests drive with Playwright (Playwright's own browser download does not work offline), and the JRE and
## Maven that fetch and run Apache Kafka: installed when missing.
system-packages:
	@if fc-list 2>/dev/null | grep -q "Noto Sans CJK" && ldconfig -p | grep -q libharfbuzz-subset \
		&& command -v chromium >/dev/null && command -v java >/dev/null && command -v mvn >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing fonts-noto-cjk, libharfbuzz-subset0, chromium (Chinese in reports, console tests)" \
			"and a JRE with Maven (Apache Kafka) where missing"; \
		apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-noto-cjk \
			fontconfig libharfbuzz-subset0 chromium >/dev/null; \
		command -v java >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			openjdk-17-jre-headless >/dev/null; \
		command -v mvn >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null; \
	else echo "warning: fonts-noto-cjk, chromium, java or mvn is missing and cannot be installed here (not" \
		"root): Chinese in reports renders as boxes, the console's browser tests are skipped, Kafka cannot run"; fi

## Run Apache Kafka (one node) and the services on the embedded default (SQLite), with sample complaints.
demo: install
	$(BIN)/python -m services.demo

## Apache Kafka and every service on the embedded default, on the README's fixed ports, until Ctrl-C.
up: install
	$(BIN)/python -m services.demo.up

## Every test: unit, contracts, integration (Apache Kafka + PostgreSQL) and end to end (separate processes).
test: install check-postgres
	$(BIN)/python -m pytest

test-unit: install
	$(BIN)/python -m pytest -m "not integration and not e2e"

test-integration: install check-postgres
	$(BIN)/python -m pytest -m integration

test-e2e: install check-postgres
	$(BIN)/python -m pytest -m e2e

## Fault runs under load on a three-node Kafka cluster: brokers killed, wiped, cut off; services SIGKILLed;
## database connections cut.
faults: install check-postgres
	$(BIN)/python -m pytest -m faults -s

## Throughput and latency through the whole path (N=2000 by default), deadlines, and the read side's replay
## rate (EVENTS=100000) and search latency (SEARCH=100000 complaints), the console's page times; prints figures.
bench: install check-postgres
	$(BIN)/python -m tests.bench.end_to_end --complaints $(or $(N),2000)
	$(BIN)/python -m tests.bench.deadlines --deadlines $(or $(DEADLINES),100000)
	$(BIN)/python -m tests.bench.read_side --events $(or $(EVENTS),100000) --search-complaints $(or $(SEARCH),100000)
	$(BIN)/python -m tests.bench.console --complaints $(or $(CONSOLE_COMPLAINTS),200) --requests $(or $(CONSOLE_REQUESTS),200)

## Apache Kafka on its own (one node, provisioned), on 127.0.0.1:9092, its data in var/kafka-node.
broker: install
	$(BIN)/python -m services.common.kafkaserver

## Regenerate the JSON Schemas and the AsyncAPI document from the contracts.
generate: install
	$(BIN)/python -m contracts.generate

check-generated: install
	$(BIN)/python -m contracts.generate --check

check-postgres: install
	@$(BIN)/python -m tests.support.check_postgres

clean:
	rm -rf $(VENV) var .pytest_cache
