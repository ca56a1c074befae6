# The platform's entry points. Two virtual environments, as in production:
#   .venv-infra  the Pulumi program, the policy pack, the chart tests (protobuf 5)
#   .venv-ml     the KFP pipelines and the model server (protobuf 6)
#   .venv-features  the feature store (Feast 0.66.0, pandas 2): its steps and tests/features
# `make demo` and `make test` install whatever is missing first.

PYTHON ?= python3
INFRA := .venv-infra
ML := .venv-ml
SCAN := .venv-scan
MLMD := .venv-mlmd
TOOLS := .venv-tools
# The feature store (Feast 0.66.0 needs pandas < 3; the ML environment has pandas 3.1): requirements/features.txt.
FEATURES_ENV := .venv-features
UV_VERSION := 0.13.9
UV := $(TOOLS)/bin/uv
LOCK := $(UV) pip compile --quiet --universal --generate-hashes --python-version 3.11 --no-header
VALIDATORS := scripts/crd-validators
PIP_FLAGS := --quiet --disable-pip-version-check
STACK ?= staging
export PATH := $(CURDIR)/.bin:$(PATH)
# Python caches what it compiles on first import, once, unless PYTHONDONTWRITEBYTECODE is set (as
# on many developer machines and CI runners): then each of the suites' hundreds of processes
# (pipeline steps, servers, the program) compiles pandas, scikit-learn, MLflow or the providers
# again, 7.5-10.7 s instead of 2.6 s to import MLflow, scikit-learn and pandas. The caches land in
# the environments and in ignored __pycache__ folders.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help setup demo test test-infra test-ml lint preview diff policy bootstrap-preview simulate compile bench upstream lock step-image serving-image feature-image provider-schemas check-kfp-mysql-tls backup-tools test-features monitoring-tools clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

# Environments are installed from the lock files (exact versions, hashes checked) with uv;
# `make lock` refreshes the locks from requirements/*.txt. No byte-compiling at install:
# it costs 75 s for both environments, where Python compiles only what is imported, once.
$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install $(PIP_FLAGS) uv==$(UV_VERSION) 2>&1 | grep -v "is ignored: it is neither" || true

$(INFRA)/.installed: requirements/infra.lock | $(UV)
	rm -rf $(INFRA) && $(UV) venv --quiet --python $(PYTHON) $(INFRA)
	$(UV) pip sync --quiet --require-hashes --python $(INFRA)/bin/python requirements/infra.lock
	$(INFRA)/bin/python -c "import pulumi, pulumi_aws, pulumi_kubernetes, pulumi_policy, pydantic"
	touch $@

$(ML)/.installed: requirements/ml.lock | $(UV)
	rm -rf $(ML) && $(UV) venv --quiet --python $(PYTHON) $(ML)
	$(UV) pip sync --quiet --require-hashes --python $(ML)/bin/python requirements/ml.lock
	$(ML)/bin/python -c "import kfp, mlflow, sklearn, mlserver"
	touch $@

$(FEATURES_ENV)/.installed: requirements/features.lock | $(UV)
	rm -rf $(FEATURES_ENV) && $(UV) venv --quiet --python $(PYTHON) $(FEATURES_ENV)
	$(UV) pip sync --quiet --require-hashes --python $(FEATURES_ENV)/bin/python requirements/features.lock
	$(FEATURES_ENV)/bin/python -c "import feast, kfp, psycopg, moto"
	touch $@

$(SCAN)/.installed: requirements/scan.lock | $(UV)
	rm -rf $(SCAN) && $(UV) venv --quiet --python $(PYTHON) $(SCAN)
	$(UV) pip sync --quiet --require-hashes --python $(SCAN)/bin/python requirements/scan.lock
	$(SCAN)/bin/checkov --version
	touch $@

$(MLMD)/.installed: requirements/mlmd.lock | $(UV)
	rm -rf $(MLMD) && $(UV) venv --quiet --python $(PYTHON) $(MLMD)
	$(UV) pip sync --quiet --require-hashes --python $(MLMD)/bin/python requirements/mlmd.lock
	$(MLMD)/bin/python -c "from ml_metadata import metadata_store"
	touch $@

$(VALIDATORS)/node_modules/.installed: $(VALIDATORS)/package.json
	cd $(VALIDATORS) && npm install --no-audit --no-fund --no-package-lock --silent
	touch $@

.bin/helm: | $(UV)
	$(TOOLS)/bin/python scripts/install_helm.py

setup: $(INFRA)/.installed $(ML)/.installed $(FEATURES_ENV)/.installed $(SCAN)/.installed $(VALIDATORS)/node_modules/.installed .bin/helm ## install the environments, helm and the CRD validators

demo: setup ## the main job on its embedded default: the whole ML lifecycle locally (see README)
	$(ML)/bin/python -m demo

# The two suites run side by side (two workers each): the ML suite's critical path is one demo run
# and the tests that read it, which leaves a core idle that the infra suite fills. The feature store's
# suite (one process, mostly waiting on PostgreSQL and `feast serve`: 33 s of CPU) runs beside them.
# Each suite's output is printed whole when it ends (--output-sync).
test: ## lint, then the whole test suite: the environments' suites side by side
	@$(MAKE) --no-print-directory -j4 --output-sync=target lint test-infra test-ml test-features

# The backups' round trip (tests/infra/test_backup_round_trip.py) runs moto's S3 server from the ML environment.
test-infra: $(INFRA)/.installed $(ML)/.installed $(SCAN)/.installed $(VALIDATORS)/node_modules/.installed .bin/helm monitoring-tools ## the program, pack, chart, conformance and alerting tests (infra environment)
	$(INFRA)/bin/python -m pytest -n 2 --dist loadfile tests/infra tests/charts tests/conformance tests/rules

# promtool and amtool (tests/rules), Prometheus and the Pushgateway (the demo scrapes its model server and drift push
# with them to draw the dashboards' panels; tests/ml/test_dashboard_metrics.py reads what they scraped): Debian's
# packages, installed as root with apt like check-kfp-mysql-tls's. Without root the tests skip with one line, unless
# MLPLATFORM_REQUIRE_UPSTREAM is set (CI), where they fail.
MONITORING_TOOL_PACKAGES := prometheus prometheus-alertmanager prometheus-pushgateway
monitoring-tools: ## install promtool, amtool, prometheus and the Pushgateway (Debian's packages, as root) for tests/rules and the dashboards
	@command -v promtool >/dev/null && command -v amtool >/dev/null && command -v prometheus >/dev/null \
		&& command -v prometheus-pushgateway >/dev/null \
		|| apt-get install -y -q --no-install-recommends $(MONITORING_TOOL_PACKAGES) >/dev/null \
		|| { echo "warning: could not install $(MONITORING_TOOL_PACKAGES) (as root: apt-get install ...); tests/rules and the dashboard metric test will skip or fail, the demo draws no panels" >&2; \
		     test -z "$$MLPLATFORM_REQUIRE_UPSTREAM"; }

test-ml: $(ML)/.installed $(INFRA)/.installed $(FEATURES_ENV)/.installed .bin/helm monitoring-tools ## the pipeline, demo and serving tests (ML environment; the demo also runs the program in the infra one and its feature store in the features one)
	@# Compile what the steps import once, before parallel processes would each compile it.
	$(ML)/bin/python -c "import kfp.dsl, mlflow.sklearn, sklearn.ensemble, sklearn.metrics, pandas, matplotlib.pyplot, mlserver"
	@# In collection order: the demo's group first, the tests that wait for it last (tests/ml/conftest.py).
	$(ML)/bin/python -m pytest -n 2 --dist loadgroup --no-loadscope-reorder tests/ml

lint: $(INFRA)/.installed ## ruff over the Python code
	$(INFRA)/bin/ruff check infra bootstrap tooling policies pipelines demo tests scripts benchmarks

preview: $(INFRA)/.installed ## offline preview of STACK (default staging), with resource names
	$(INFRA)/bin/python -m tooling.preview --stack $(STACK) --names

BASE ?= origin/main
diff: $(INFRA)/.installed ## offline preview diff of STACK against BASE (default origin/main): changes, policies, cost
	$(INFRA)/bin/python -m tooling.preview_diff --stack $(STACK) --base $(BASE)

# Each provider's replace-on-change inputs (its schema's willReplaceOnChanges) at the locked version,
# kept in .provider-schemas/ for `make diff`; without them the diff says it cannot tell replacements.
provider-schemas: $(INFRA)/.installed ## the providers' replace-on-change inputs for `make diff` (needs the Pulumi CLI)
	@command -v pulumi >/dev/null || { echo "error: provider-schemas needs the Pulumi CLI (https://www.pulumi.com/docs/install/)"; exit 2; }
	$(INFRA)/bin/python -c "from tooling.replacements import provider_versions as v; print(*(f'{p} {n}' for p, n in v().items()), sep='\n')" | \
	while read -r provider version; do \
		pulumi plugin install resource "$$provider" "$$version" >/dev/null && \
		pulumi package get-schema "$$provider@$$version" | $(INFRA)/bin/python -m tooling.replacements extract --provider "$$provider" --version "$$version" || exit 1; \
	done

bootstrap-preview: $(INFRA)/.installed ## offline preview and policy report of the once-per-account program (bootstrap/)
	$(INFRA)/bin/python -m bootstrap.offline

policy: $(INFRA)/.installed ## the policy pack's report for every stack (offline)
	$(INFRA)/bin/python -m tooling.policy_report

simulate: $(INFRA)/.installed .bin/helm ## fresh-cluster simulation of pulumi up (DESTROY=1: pulumi destroy; FAULT=spot|node|zone: a fault) for STACK
	$(INFRA)/bin/python -m tooling.simulate --stack $(STACK) $(if $(DESTROY),--destroy) $(if $(FAULT),--fault $(FAULT))

compile: $(ML)/.installed ## compile the KFP pipelines into pipelines/compiled/
	$(ML)/bin/python -m pipelines.compile

lock: | $(UV) ## refresh requirements/*.lock from requirements/*.txt (the steps' and the model server's locks follow the ML one)
	$(LOCK) requirements/infra.txt -o requirements/infra.lock
	$(LOCK) requirements/scan.txt -o requirements/scan.lock
	$(LOCK) requirements/ml.txt -o requirements/ml.lock
	$(LOCK) requirements/steps.txt -c requirements/ml.lock -o requirements/steps.lock
	$(LOCK) requirements/serving.txt -c requirements/ml.lock -o requirements/serving.lock
	$(LOCK) requirements/mlmd.txt -o requirements/mlmd.lock
	$(LOCK) requirements/features.txt -o requirements/features.lock

# The feature store's proof (tests/features): real PostgreSQL 15 online store, `feast serve`, the transformer.
test-features: $(FEATURES_ENV)/.installed backup-tools ## skew, leakage and transformer tests of the feature store (features environment)
	$(FEATURES_ENV)/bin/python -m pytest -p no:xdist tests/features

# KFP's MySQL run as declared, with its three clients (scripts/check_kfp_mysql_tls.py): MariaDB, Go and
# Debian's go-sql-driver come from Debian's packages (root, apt), MLMD's client from its own environment.
MYSQL_CHECK_PACKAGES := mariadb-server golang-go golang-github-go-sql-driver-mysql-dev
check-kfp-mysql-tls: $(INFRA)/.installed $(MLMD)/.installed .bin/helm ## run KFP's MySQL with its declared TLS and connect as its three clients do (installs MariaDB and Go with apt)
	@command -v mariadbd >/dev/null && command -v go >/dev/null && test -d /usr/share/gocode/src/github.com/go-sql-driver/mysql \
		|| apt-get install -y -q $(MYSQL_CHECK_PACKAGES) >/dev/null \
		|| { echo "error: could not install $(MYSQL_CHECK_PACKAGES); install them (as root: apt-get install ...) and rerun" >&2; exit 1; }
	$(INFRA)/bin/python scripts/check_kfp_mysql_tls.py --stack $(STACK)

# The backups' round trip (tests/infra/test_backup_round_trip.py) runs the CronJobs' own commands against real
# MariaDB and PostgreSQL with Debian's clients and AWS CLI (root, apt); CI runs it first (.ci/run).
BACKUP_TOOLS_PACKAGES := mariadb-server mariadb-client postgresql-15 awscli
backup-tools: ## install what the backups' round-trip tests run: MariaDB, PostgreSQL 15, the AWS CLI (Debian packages, as root)
	@command -v mariadbd >/dev/null && command -v mysqldump >/dev/null && command -v aws >/dev/null && test -x /usr/lib/postgresql/15/bin/postgres \
		|| apt-get install -y -q $(BACKUP_TOOLS_PACKAGES) >/dev/null \
		|| { echo "error: could not install $(BACKUP_TOOLS_PACKAGES); install them (as root: apt-get install ...) and rerun" >&2; exit 1; }

IMAGE ?= mlplatform-pipeline-steps:dev
step-image: ## build the pipeline step image (needs a Docker engine): IMAGE=<repository>:<tag>
	docker build -f pipelines/Dockerfile -t $(IMAGE) .

FEATURE_IMAGE ?= mlplatform-feature-steps:dev
feature-image: ## build the features step image the pipelines' feature steps run (needs a Docker engine): FEATURE_IMAGE=<repository>:<tag>
	docker build -f pipelines/features/Dockerfile -t $(FEATURE_IMAGE) .

SERVING_IMAGE ?= mlplatform-model-server:dev
serving-image: ## build the model server image KServe runs (needs a Docker engine): SERVING_IMAGE=<repository>:<tag>
	docker build -f serving/Dockerfile -t $(SERVING_IMAGE) .

bench: setup ## benchmarks: offline preview of every stack, one pipeline run, V2 serving load
	$(INFRA)/bin/python benchmarks/preview_stacks.py
	$(ML)/bin/python benchmarks/pipeline_run.py --rows 20000
	$(ML)/bin/python benchmarks/serving.py

upstream: $(INFRA)/.installed .bin/helm ## fetch the pinned upstream charts and manifests into .upstream/ (the conformance tests' sources)
	$(INFRA)/bin/python scripts/fetch_upstream.py

clean: ## remove environments, helm and demo output
	rm -rf $(INFRA) $(ML) $(FEATURES_ENV) $(SCAN) $(MLMD) $(TOOLS) $(VALIDATORS)/node_modules .bin .demo
