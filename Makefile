# Two commands do everything on a fresh clone: `make synth` and `make test`.
# Setup (.venv, Python and npm packages) runs only when missing or when its inputs changed.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
CDK := npx --no-install cdk
ENV ?=

# Offline and quiet: no Node EOL banner from jsii, no CLI telemetry or notices, and never ask
# the EC2 metadata service for credentials (synth needs none).
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20,21,22
export CDK_DISABLE_CLI_TELEMETRY := true
export AWS_EC2_METADATA_DISABLED := true
# Python caches bytecode (in .venv and the repo's ignored __pycache__ folders) even where the
# environment says not to: without it every synth recompiles the aws-cdk-lib modules it imports
# (~4.5 s of CPU). Lambda packages get their own bytecode (python_bundling), unaffected.
unexport PYTHONDONTWRITEBYTECODE

PY_STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

.PHONY: help setup synth test lint typecheck unit preflight deploy diff bootstrap clean bench-api bench cost local \
	check-migrations rollback roles db-tunnel shell

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(PY_STAMP): requirements.txt requirements-dev.txt requirements-config.txt
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is needed (set PYTHON=...)")'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	@# --no-compile: Python compiles (and caches) only the modules it imports, a small part of
	@# aws-cdk-lib; compiling all of it at install time took ~45 s.
	$(PY) -m pip install --quiet --disable-pip-version-check --no-compile -r requirements-dev.txt
	@touch $@

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

setup: $(PY_STAMP) $(NPM_STAMP) ## Create .venv and install Python and npm dependencies

synth: setup ## Synthesize every environment into cdk.out (offline), run cdk-nag
	$(CDK) synth --quiet

lint: $(PY_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/actionlint
	$(VENV)/bin/zizmor --offline --quiet --config .github/zizmor.yml .github/

typecheck: $(PY_STAMP)
	$(VENV)/bin/mypy

# The end-to-end test's browser, looked for as tests/test_e2e.py looks: a browser (`chromium` or
# `google-chrome`) and a driver (`chromedriver`, or $CHROMEWEBDRIVER/chromedriver as on GitHub's
# runners). Only if either is missing: apt-get install Debian's chromium and chromium-driver, as
# root or through sudo. Checked on every run (no stamp), so a driver removed later comes back.
.PHONY: browser
browser: ## Chromium + ChromeDriver for the e2e test (apt-get, only if one is missing)
	@if { command -v chromium || command -v google-chrome; } >/dev/null && \
		{ command -v chromedriver || test -x "$${CHROMEWEBDRIVER:-/nonexistent}/chromedriver"; } \
		>/dev/null; then exit 0; fi; \
	command -v apt-get >/dev/null || { echo "make browser: no apt-get here; install Chromium (or \
	Chrome) and its ChromeDriver yourself" >&2; exit 1; }; \
	SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	[ -z "$$SUDO" ] || command -v sudo >/dev/null || { echo "make browser: installing chromium \
	and chromium-driver with apt-get needs root or sudo" >&2; exit 1; }; \
	echo "make browser: apt-get install chromium chromium-driver (no browser or no driver found)"; \
	$$SUDO apt-get update -qq; \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null

# The MySQL-family server of the MySQL engines' tests and `make local` (devkit/mysql.py starts
# its own throwaway one): mariadbd or mysqld (MySQL 8, as on GitHub's Ubuntu runners) on the PATH
# or in /usr/sbin. Only if neither is there: apt-get install Debian's MariaDB server binaries
# (mariadb-server-core, and mariadb-client-core for mariadb-install-db's my_print_defaults; not
# mariadb-server, which also starts a system service on port 3306), as root or through sudo.
# Checked on every run (no stamp), like `browser`.
.PHONY: mariadb
mariadb: ## MariaDB (or MySQL 8) for the MySQL engines' tests (apt-get, only if missing)
	@for server in mariadbd mysqld; do \
		if command -v "$$server" >/dev/null || test -x "/usr/sbin/$$server"; then exit 0; fi; \
	done; \
	command -v apt-get >/dev/null || { echo "make mariadb: no apt-get here; install MariaDB \
	(mariadbd) or MySQL 8 (mysqld) yourself" >&2; exit 1; }; \
	SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	[ -z "$$SUDO" ] || command -v sudo >/dev/null || { echo "make mariadb: installing \
	MariaDB with apt-get needs root or sudo" >&2; exit 1; }; \
	echo "make mariadb: apt-get install mariadb-server-core (no mariadbd or mysqld found)"; \
	$$SUDO apt-get update -qq; \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends \
		mariadb-server-core mariadb-client-core >/dev/null

unit: setup browser mariadb
	$(VENV)/bin/pytest

test: ## ruff (lint + format), actionlint, zizmor, mypy, pytest (cfn-lint, snapshots), in parallel
	@$(MAKE) --no-print-directory --jobs=3 --output-sync=target lint typecheck unit

local: setup mariadb ## Run web app, API, token endpoint, PostgreSQL (ENGINE=mysql: MariaDB) and DynamoDB on localhost
	PYTHONPATH=lambda_src:web_app $(PY) -m local_stack

bench-api: setup mariadb ## API benchmark: handler vs direct SQL on a local PostgreSQL and MariaDB
	$(PY) -m bench.api_bench

cost: synth ## Monthly always-on AWS cost floor per environment (us-east-1 list prices)
	$(PY) -m cost

bench: setup mariadb ## One table: synth vs an empty CDK app, make test's time, API cold start + size, API bench
	$(PY) -m bench.all

define require_env
	@test -n "$(ENV)" || { echo "usage: make $@ ENV=<environment>" >&2; exit 2; }
	@$(PY) -m stacks.config deployable $(ENV)
endef

# Read-only checks of the environment's account (python -m preflight); the deploy workflow passes
# PREFLIGHT_FLAGS=--ci (also check its deploy role, read through the CDK lookup role).
PREFLIGHT_FLAGS ?=

preflight: setup ## Read-only account checks before a deploy: make preflight ENV=staging
	$(require_env)
	$(PY) -m preflight $(ENV) $(PREFLIGHT_FLAGS)

deploy: setup ## Preflight, deploy one environment's stage, verify its releases: make deploy ENV=staging
	$(require_env)
	$(PY) -m preflight $(ENV) $(PREFLIGHT_FLAGS)
	$(CDK) deploy --context env=$(ENV) '$(ENV)/*' --require-approval broadening || \
		{ $(PY) -m release explain $(ENV); exit 1; }
	$(PY) -m release verify $(ENV)

diff: setup ## Show what a deploy would change: make diff ENV=staging
	$(require_env)
	$(CDK) diff --context env=$(ENV) '$(ENV)/*'

bootstrap: setup ## Once per account/region: cdk bootstrap + GitHub OIDC stack: make bootstrap ENV=prod
	$(require_env)
	@# One target, or two when the static site's edge stack (certificate, WAF) is in us-east-1.
	$(CDK) bootstrap $$($(PY) -m stacks.delivery bootstrap-target $(ENV))
	$(CDK) deploy --context env=$(ENV) "$$($(PY) -m stacks.delivery oidc-stage $(ENV))/*" \
		--require-approval broadening

# The merge base's API code against the schema this checkout's migrations leave (expand/contract):
# python -m migration_check starts its own PostgreSQL; BASE is any git ref (a branch, a commit).
BASE ?=

check-migrations: setup ## Old API code vs the new migrations, on a local PostgreSQL: make check-migrations BASE=origin/main
	@test -n "$(BASE)" || { echo "usage: make check-migrations BASE=<git ref>" >&2; exit 2; }
	$(PY) -m migration_check "$(BASE)"

# Back to the release the last successful deploy replaced (release/rollback.py): the web tier by
# re-deploying its previous image, the API by moving its alias back to the previous version.
TIER ?=

rollback: setup ## Return a tier to its previous release: make rollback ENV=prod TIER=web|api
	$(require_env)
	@test -n "$(TIER)" || { echo "usage: make rollback ENV=<environment> TIER=web|api" >&2; exit 2; }
	$(PY) -m release rollback $(ENV) $(TIER)

# The S3M shape's role table (api.route_roles names the roles): ARGS is grant USER ROLE,
# revoke USER ROLE, list USER, or list (every user with a role). USER: username, e-mail or sub.
ARGS ?=

roles: setup ## Users' roles (S3M shape): make roles ENV=spa ARGS="grant alice@example.com admin"
	$(require_env)
	@test -n "$(ARGS)" || { echo 'usage: make roles ENV=<environment> ARGS="grant|revoke USER ROLE | list [USER]"' >&2; exit 2; }
	$(PY) -m roles $(ENV) $(ARGS)

# Operator access (python -m operator_access, CDK-free): the AWS CLI v2 and the Session Manager
# plugin on the PATH, and the ops stack's operators policy on the caller. db-tunnel forwards a
# local port to the database through the data tier's access instance (starting it if stopped)
# and prints a psql/mysql command; Ctrl-C closes it. ROLE=admin logs in as the master user.
ROLE ?= readonly

db-tunnel: setup ## Port forward to the database + a psql/mysql command: make db-tunnel ENV=staging [ROLE=admin]
	$(require_env)
	@$(PY) -m operator_access db-tunnel $(ENV) $(ROLE)

shell: setup ## A shell in a running web container (Fargate, EC2 runtimes): make shell ENV=staging
	$(require_env)
	@$(PY) -m operator_access shell $(ENV)

clean: ## Remove cdk.out and caches (keeps .venv and node_modules)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache
