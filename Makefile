# One command surface for the RPM/RTM billing pipeline. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PYTHONPATH := $(CURDIR)/layers/common/python:$(CURDIR)/functions:$(CURDIR)
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export AWS_DEFAULT_REGION ?= us-east-1

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q ".[dev]"
	touch $(STAMP)

.PHONY: help
help: ## List every target
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  %-12s %s\n", $$1, $$2}'

.PHONY: dev
dev: $(STAMP) ## Create .venv and install everything (runs on first use of any target)

.PHONY: run
run: $(STAMP) ## Start the local stack on 127.0.0.1 (emulated AWS, demo data)
	$(BIN)/python -m local serve $(ARGS)

.PHONY: test
test: $(STAMP) ## Run the whole test suite with coverage
	$(BIN)/python -m pytest --cov --cov-report=term $(ARGS)

.PHONY: unit
unit: $(STAMP) ## Run the unit tests only
	$(BIN)/python -m pytest tests/unit $(ARGS)

.PHONY: lint
lint: $(STAMP) ## ruff (lint + format check) and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/common/python/rpm_billing functions

.PHONY: format
format: $(STAMP) ## Format and autofix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: bench
bench: $(STAMP) ## Print performance figures measured side by side (ratios)
	$(BIN)/python -m bench

.PHONY: synth
synth: $(STAMP) ## Synthesise the CDK app offline into cdk.out (cdk-nag applied)
	$(BIN)/python infra/app.py

.PHONY: cfn-lint
cfn-lint: synth ## Lint the synthesised template
	$(BIN)/cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json

.PHONY: deploy
deploy: $(STAMP) ## Deploy to the AWS account in your environment (CDK CLI pinned in package.json)
	test -x node_modules/.bin/cdk || npm ci --no-audit --no-fund
	PATH=$(CURDIR)/$(BIN):$$PATH node_modules/.bin/cdk deploy --require-approval broadening $(ARGS)

.PHONY: clean
clean: ## Remove build outputs (keeps .venv)
	rm -rf cdk.out build .pytest_cache .mypy_cache .ruff_cache .coverage htmlcov
