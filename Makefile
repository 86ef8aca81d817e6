# The entry points a person types. `make demo` and `make test` do their own set-up.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell sha256sum requirements-dev.txt | cut -c1-16)
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed-$(shell sha256sum requirements-checkov.txt | cut -c1-16)
export SAM_CLI_TELEMETRY := 0
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help setup build demo test lint unit-and-e2e template-checks bench bench-tools fuzz esdk-vectors package deploy seed clean

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

setup: $(STAMP) $(CHECKOV_STAMP) ## install the pinned non-Rust tools into .venv and .venv-checkov (idempotent)
	@cargo fmt --version >/dev/null 2>&1 || { echo "rustfmt is missing: rustup component add rustfmt"; exit 1; }
	@cargo clippy --version >/dev/null 2>&1 || { echo "clippy is missing: rustup component add clippy"; exit 1; }

$(STAMP): requirements-dev.txt
	@echo "==> installing pinned tools into $(VENV) (moto, cargo-lambda, SAM CLI, cfn-lint)"
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

$(CHECKOV_STAMP): requirements-checkov.txt
	@echo "==> installing the pinned template scanner into $(CHECKOV_VENV) (checkov)"
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	@rm -f $(CHECKOV_VENV)/.installed-*
	@touch $@

build: ## compile everything (debug)
	cargo build --workspace --all-targets --locked

demo: setup ## run the suite on the local stack and print what each function answers
	cargo run --quiet --locked -p suite-tests --bin demo

# A full run builds everything once: incremental caches would only add gigabytes to target/.
test: export CARGO_INCREMENTAL := 0
test: setup lint unit-and-e2e template-checks ## every check and test: what CI runs
	@echo "==> all checks passed"

lint: ## formatting and clippy with warnings as errors
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

unit-and-e2e: ## unit tests, integration tests against moto, end-to-end tests through cargo lambda
	cargo test --workspace --locked

template-checks: setup ## cfn-lint, sam validate --lint, checkov, the template's policy checks and the deploy rehearsal
	cfn-lint template.yaml
	sam validate --lint
	@# Every finding fixed or skipped next to its resource with the reason (a failed check fails
	@# the run); --skip-download: offline, no guideline links from Prisma Cloud.
	$(CHECKOV_VENV)/bin/checkov --file template.yaml --framework cloudformation --skip-download --compact --quiet
	$(VENV)/bin/python -m unittest discover -s tests/template -v

OHA_VERSION := 1.15.0
# AWS's open-source Secrets Manager Agent, built from its crates.io source: the secrets
# extension's baseline.
AGENT_VERSION := 2.1.0
# The functions the cold-start harness measures, and how much (BENCH_SPAWNS=2 BENCH_WARM=50 for a
# quick look; BENCHMARKS.md is written with the defaults).
BENCH_FUNCTIONS := secure-config data-masking multi-tenant-query
BENCH_SPAWNS ?= 20
BENCH_WARM ?= 1000
# The scale probe: Zipf populations of active users, and events per population per function.
SCALE_USERS ?= 10,1000,100000
SCALE_REQUESTS ?= 10000
comma := ,
space := $(empty) $(empty)
BENCH_STAMP := $(VENV)/.bench-$(shell sha256sum bench/requirements.txt | cut -c1-16)

$(BENCH_STAMP): bench/requirements.txt $(STAMP)
	@echo "==> installing the Python baseline's runtime (awslambdaric, boto3) into $(VENV)"
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check -r bench/requirements.txt
	@rm -f $(VENV)/.bench-*
	@touch $@

# The two baselines built from their crates.io source, once: no registry this project reaches
# ships them prebuilt.
bench-tools: ## builds the benchmarks' baselines into .tools/bin once: oha and AWS's Secrets Manager Agent
	@test -x .tools/bin/oha || cargo install --locked --root .tools oha --version $(OHA_VERSION)
	@test -x .tools/bin/aws_secretsmanager_agent || cargo install --locked --root .tools aws_secretsmanager_agent --version $(AGENT_VERSION)

bench: setup $(BENCH_STAMP) bench-tools ## benchmarks, written to BENCHMARKS.md: cold start, RSS, warm latency and size vs a Python baseline; log redaction; loadtest engine vs oha
	@mkdir -p target/bench
	cargo bench --locked -p secure-lambda --bench redaction | tee target/bench/redaction.txt
	cargo bench --locked -p data-masking --bench invocation | tee target/bench/invocation.txt
	cargo bench --locked -p loadtest --bench engine_vs_oha | tee target/bench/engine_vs_oha.txt
	@# After the benches: `cargo bench -p loadtest` leaves its bench-profile (unstripped) loadtest
	@# binary in target/release, and the size table must read the release one.
	cargo build --release --locked $(addprefix --bin ,$(BENCH_FUNCTIONS) loadtest secrets-extension)
	cargo build --locked -p suite-tests --bin coldstart --bin scaleprobe --bin extbench
	@# Optimised like the functions: the library's crypto timed as it runs in them.
	cargo build --release --locked -p suite-tests --bin cryptobench
	target/release/cryptobench --python $(CURDIR)/$(VENV)/bin/python --out target/bench/crypto.md
	target/debug/extbench --extension target/release/secrets-extension --agent .tools/bin/aws_secretsmanager_agent \
	  --oha .tools/bin/oha --out target/bench/extension.md
	target/debug/scaleprobe --profile release --users $(SCALE_USERS) --requests $(SCALE_REQUESTS) --out target/bench/scale.md
	target/debug/coldstart --profile release --functions $(subst $(space),$(comma),$(BENCH_FUNCTIONS)) \
	  --spawns $(BENCH_SPAWNS) --warm $(BENCH_WARM) --python $(CURDIR)/$(VENV)/bin/python \
	  --command "make bench BENCH_SPAWNS=$(BENCH_SPAWNS) BENCH_WARM=$(BENCH_WARM)" --out BENCHMARKS.md --plot bench/cold-start.svg \
	  --include "Log redaction: cargo bench -p secure-lambda --bench redaction=target/bench/redaction.txt" \
	  --include "data-masking, whole invocation at 5 MB: cargo bench -p data-masking --bench invocation=target/bench/invocation.txt" \
	  --include "Loadtest engine vs oha: cargo bench -p loadtest --bench engine_vs_oha=target/bench/engine_vs_oha.txt" \
	  --section "Scale: AWS calls per 1,000 requests, and where each quota is met (target/debug/scaleprobe)=target/bench/scale.md" \
	  --section "Reversible masking vs Powertools Data Masking (target/release/cryptobench)=target/bench/crypto.md" \
	  --section "secrets-extension vs AWS's Secrets Manager Agent (target/debug/extbench)=target/bench/extension.md"

CARGO_FUZZ_VERSION := 0.13.2
FUZZ_SECONDS ?= 60
fuzz: ## fuzz the redactor, the JSON masker, event parsing, the cursor decoder and ID tokens (nightly + cargo-fuzz; FUZZ_SECONDS per target)
	@test -x .tools/bin/cargo-fuzz || cargo install --locked --root .tools cargo-fuzz --version $(CARGO_FUZZ_VERSION)
	for target in redact_text mask_json mask_stream event_parse cursor_open id_token; do \
	  PATH="$(CURDIR)/.tools/bin:$$PATH" cargo +nightly fuzz run --fuzz-dir fuzz $$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

# The four arm64 bundles, as `sam build` makes them for Lambda (cargo lambda build --release
# --arm64, zig as the cross linker), zipped as `sam package` uploads them and checked.
LAMBDA_TARGET := aarch64-unknown-linux-gnu
package: setup ## build the four arm64 bootstrap bundles with sam build, zip and check them (aarch64 ELF, stripped, glibc of provided.al2023)
	rustup target add $(LAMBDA_TARGET)
	sam build
	$(VENV)/bin/python tests/template/bundles.py .aws-sam/build .aws-sam/bundles

# samconfig.toml's configuration environment: `default` (names from the stack) or `lab`.
CONFIG_ENV ?= default

deploy: package ## build and check the arm64 bundles, then deploy with SAM to the account of your credentials (CONFIG_ENV=lab: the labs' names)
	sam deploy --config-env $(CONFIG_ENV)

esdk-vectors: setup ## rewrite the ESDK messages of the Python SDK that crypto's vector test opens (committed; run after an SDK upgrade)
	$(VENV)/bin/python tests/python/esdk_vectors.py > crates/secure-lambda/tests/vectors/esdk-python.json

seed: setup ## after deploy: fill what CloudFormation cannot (secret values, SecureString, users) into the stack's resources
	@stack="$$($(VENV)/bin/python -c 'import sys; from samcli.lib.config.samconfig import SamConfig; print(SamConfig(".", "samconfig.toml").get_all(["deploy"], "parameters", env=sys.argv[1]).get("stack_name", ""))' $(CONFIG_ENV))"; \
	test -n "$$stack" || { echo "samconfig.toml has no stack_name for config env $(CONFIG_ENV)"; exit 1; }; \
	cargo run --quiet --locked --bin suitectl -- seed --stack-name "$$stack"

clean: ## remove build output and the tool environment
	cargo clean
	rm -rf $(VENV) $(CHECKOV_VENV) .aws-sam
