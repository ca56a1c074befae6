# The platform's entry points. Two virtual environments, as in production:
#   .venv-infra  the Pulumi program, the policy pack, the chart tests (protobuf 5)
#   .venv-ml     the KFP pipelines and the model server (protobuf 6)
# `make demo` and `make test` install whatever is missing first.

PYTHON ?= python3
INFRA := .venv-infra
ML := .venv-ml
SCAN := .venv-scan
VALIDATORS := scripts/crd-validators
PIP_FLAGS := --quiet --disable-pip-version-check
STACK ?= staging
export PATH := $(CURDIR)/.bin:$(PATH)

.PHONY: help setup demo test lint preview diff policy compile bench upstream clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(INFRA)/.installed: requirements/infra.txt
	$(PYTHON) -m venv $(INFRA)
	$(INFRA)/bin/pip install $(PIP_FLAGS) -r requirements/infra.txt 2>&1 | grep -v "is ignored: it is neither" || true
	$(INFRA)/bin/python -c "import pulumi, pulumi_aws, pulumi_kubernetes, pulumi_policy, pydantic"
	touch $@

$(ML)/.installed: requirements/ml.txt
	$(PYTHON) -m venv $(ML)
	$(ML)/bin/pip install $(PIP_FLAGS) -r requirements/ml.txt 2>&1 | grep -v "is ignored: it is neither" || true
	$(ML)/bin/python -c "import kfp, mlflow, sklearn, mlserver"
	touch $@

$(SCAN)/.installed: requirements/scan.txt
	$(PYTHON) -m venv $(SCAN)
	$(SCAN)/bin/pip install $(PIP_FLAGS) -r requirements/scan.txt 2>&1 | grep -v "is ignored: it is neither" || true
	$(SCAN)/bin/checkov --version
	touch $@

$(VALIDATORS)/node_modules/.installed: $(VALIDATORS)/package.json
	cd $(VALIDATORS) && npm install --no-audit --no-fund --no-package-lock --silent
	touch $@

.bin/helm: | $(INFRA)/.installed
	$(INFRA)/bin/python scripts/install_helm.py

setup: $(INFRA)/.installed $(ML)/.installed $(SCAN)/.installed $(VALIDATORS)/node_modules/.installed .bin/helm ## install the environments, helm and the CRD validators

demo: setup ## the main job on its embedded default: the whole ML lifecycle locally (see README)
	$(ML)/bin/python -m demo

test: setup lint ## lint, then the whole test suite (both environments)
	$(INFRA)/bin/python -m pytest tests/infra tests/charts tests/conformance
	$(ML)/bin/python -m pytest tests/ml

lint: $(INFRA)/.installed ## ruff over the Python code
	$(INFRA)/bin/ruff check infra policies pipelines demo tests scripts benchmarks

preview: $(INFRA)/.installed ## offline preview of STACK (default staging), with resource names
	$(INFRA)/bin/python -m infra.preview --stack $(STACK) --names

BASE ?= origin/main
diff: $(INFRA)/.installed ## offline preview diff of STACK against BASE (default origin/main): changes, policies, cost
	$(INFRA)/bin/python -m infra.preview_diff --stack $(STACK) --base $(BASE)

policy: $(INFRA)/.installed ## the policy pack's report for every stack (offline)
	$(INFRA)/bin/python -m policies.harness

compile: $(ML)/.installed ## compile the KFP pipelines into pipelines/compiled/
	$(ML)/bin/python -m pipelines.compile

bench: setup ## benchmarks: offline preview of every stack, one pipeline run, V2 serving load
	$(INFRA)/bin/python benchmarks/preview_stacks.py
	$(ML)/bin/python benchmarks/pipeline_run.py
	$(ML)/bin/python benchmarks/serving.py

upstream: $(INFRA)/.installed .bin/helm ## fetch the pinned upstream charts and manifests into .upstream/ (the conformance tests' sources)
	$(INFRA)/bin/python scripts/fetch_upstream.py

clean: ## remove environments, helm and demo output
	rm -rf $(INFRA) $(ML) $(SCAN) $(VALIDATORS)/node_modules .bin .demo
