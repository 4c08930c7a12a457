# athena-usage: every command a person needs is a target here; `make help` lists them.

SHELL := /bin/bash
# Every recipe line stops at the first failing command, unset variable or failing pipeline stage.
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO ?= go
CFN_LINT ?= cfn-lint
SAM ?= sam

# Tools are pinned and installed into the repository's own cache by `make tools`.
# Outside the work tree, so that a fresh clone on the same machine (as CI is) reuses what an
# earlier run built; every tool is installed under its pinned version. TOOLS_BIN=... overrides.
TOOLS_BIN ?= $(HOME)/.cache/athena-usage/bin
GOBIN := $(TOOLS_BIN)
export TOOLS_BIN
GOTESTSUM_VERSION := v1.13.0
GOLANGCI_LINT_VERSION := v2.15.0
GOTESTSUM := $(GOBIN)/gotestsum-$(GOTESTSUM_VERSION)
GOLANGCI_LINT := $(GOBIN)/golangci-lint-$(GOLANGCI_LINT_VERSION)
# golangci-lint holds a machine-wide lock; a second run (another work tree, lint-import-rule)
# waits for it instead of failing with "parallel golangci-lint is running".
GOLANGCI_LINT_RUN := $(GOLANGCI_LINT) run --allow-serial-runners

# Lambda's provided.al2023 runtime on Graviton runs one static binary named bootstrap.
# lambda.norpc drops the RPC shim that only the old go1.x runtime needed.
LAMBDA_ENV := GOOS=linux GOARCH=arm64 CGO_ENABLED=0
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w'
# A bootstrap above this size means something heavy (DuckDB, the plotting stack) leaked in.
MAX_BOOTSTRAP_BYTES := 15728640
FUNCTIONS := extract lookup alert

# The race detector is on by default: on 2 cores `go test -race ./...` takes about 1 min warm and
# 2.5 min from a cold cache, against 30 s without it (DuckDB's cgo link dominates). RACE= turns it off.
RACE ?= 1
TESTFLAGS ?= $(if $(RACE),-race,)
# Use gotestsum when `make tools` has installed it, plain go test otherwise. TEST_JSON=FILE also
# keeps the `go test -json` events, which .ci/run counts for its closing line.
TEST_JSON ?=
GOTEST = $(if $(wildcard $(GOTESTSUM)),$(GOTESTSUM) --format pkgname $(if $(TEST_JSON),--jsonfile $(TEST_JSON)) --,$(GO) test)
# Keeping the events needs gotestsum.
TEST_JSON_TOOL = $(if $(TEST_JSON),$(GOTESTSUM))

# The tests that need real components: the S3 conformance suite's MinIO subtests. Its other
# target (the embedded stand-in) runs in `make test`, so only the minio subtests run here and
# every test runs once. The integration build tag must appear nowhere else (test-integration
# checks), or its tests would run in neither target.
INTEGRATION_PKGS := ./test/s3conformance
INTEGRATION_RUN := /^minio$$

# DEMO_DIR=DIR: `make demo` writes there (the command's default is demo-state/), and
# `make browser-check` checks the report of the demo already there instead of running its own
# into build/demo, so that CI runs the demo once.
DEMO_DIR ?=
DEMO_DAYS := --from 2025-03-03 --to 2025-03-05

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-22s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build-ExtractFunction
build-ExtractFunction: ## SAM makefile builder: functions/extract into $(ARTIFACTS_DIR)/bootstrap
	$(call lambda-build,extract,$(ARTIFACTS_DIR))

.PHONY: build-LookupFunction
build-LookupFunction: ## SAM makefile builder: functions/lookup into $(ARTIFACTS_DIR)/bootstrap
	$(call lambda-build,lookup,$(ARTIFACTS_DIR))

.PHONY: build-AlertFunction
build-AlertFunction: ## SAM makefile builder: functions/alert into $(ARTIFACTS_DIR)/bootstrap
	$(call lambda-build,alert,$(ARTIFACTS_DIR))

# lambda-build builds ./functions/$(1) into $(2)/bootstrap for linux/arm64.
define lambda-build
	@test -n "$(2)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 1; }
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(2)/bootstrap ./functions/$(1)
endef

.PHONY: build
build: ## build the bootstraps into build/<function>/ (linux/arm64) and check them
	$(call lambda-build,extract,build/extract)
	$(call lambda-build,lookup,build/lookup)
	$(call lambda-build,alert,build/alert)
	@$(MAKE) --no-print-directory check-bootstraps

.PHONY: check-bootstraps
check-bootstraps: ## check the built bootstraps: size, CGO_ENABLED=0, linux/arm64
	@for f in $(FUNCTIONS); do \
		bin=build/$$f/bootstrap; \
		test -f $$bin || { echo "$$bin: missing; run make build" >&2; exit 1; }; \
		size=$$(wc -c < $$bin); \
		if [ $$size -gt $(MAX_BOOTSTRAP_BYTES) ]; then \
			echo "$$bin: $$size bytes, above the limit of $(MAX_BOOTSTRAP_BYTES)" >&2; exit 1; fi; \
		info=$$($(GO) version -m $$bin); \
		if ! grep -qE '^[[:space:]]+build[[:space:]]+CGO_ENABLED=0$$' <<<"$$info"; then \
			echo "$$bin: not built with CGO_ENABLED=0" >&2; exit 1; fi; \
		if ! grep -qE '^[[:space:]]+build[[:space:]]+GOARCH=arm64$$' <<<"$$info"; then \
			echo "$$bin: not built for GOARCH=arm64" >&2; exit 1; fi; \
		echo "$$bin: $$size bytes, CGO_ENABLED=0, linux/arm64"; \
	done

.PHONY: test
test: $(TEST_JSON_TOOL) ## run all the tests, the Lambda binaries in the emulator included, with the race detector (RACE= without)
	$(GOTEST) $(TESTFLAGS) ./...

.PHONY: test-integration
test-integration: $(TEST_JSON_TOOL) ## against real components: S3 conformance on MinIO, client-test, then browser-check
	@tagged=$$({ grep -rlE --include='*.go' '^//go:build .*\bintegration\b' cmd functions local pkg test || true; } | xargs -r -n1 dirname | sort -u | sed 's|^|./|'); \
		extra=$$(comm -23 <(echo "$$tagged") <(printf '%s\n' $(INTEGRATION_PKGS) | sort)); \
		if [ -n "$$extra" ]; then echo "integration-tagged files outside INTEGRATION_PKGS ($(INTEGRATION_PKGS)): $$extra" >&2; exit 1; fi
	scripts/minio.sh build
	scripts/minio.sh start
	@trap 'scripts/minio.sh stop' EXIT; set -a; . .cache/minio.env; set +a; \
		echo "$(GOTEST) -tags integration $(TESTFLAGS) -run '$(INTEGRATION_RUN)' $(INTEGRATION_PKGS)"; \
		$(GOTEST) -tags integration $(TESTFLAGS) -run '$(INTEGRATION_RUN)' $(INTEGRATION_PKGS)
	@$(MAKE) --no-print-directory client-test
	@$(MAKE) --no-print-directory browser-check

# client-test plays a third-party client of `local serve`: boto3 with AWS's documented CloudTrail
# DDLs and the original design's queries (test/clientpy/client.py). Without python3 and boto3 it
# is skipped, with a message, except in CI (CI set), where that fails.
.PHONY: client-test
client-test: ## a boto3 client against `local serve`: AWS's CloudTrail DDLs, GetQueryResults pages, BatchGetQueryExecution, the design's join
	@if ! python3 -c 'import boto3' 2>/dev/null; then \
		if [ -n "$${CI:-}" ]; then echo "client-test: python3 with boto3 is missing (pip install boto3); CI needs it" >&2; exit 1; fi; \
		echo "client-test: SKIPPED: python3 with boto3 is missing (pip install boto3)"; exit 0; fi; \
		$(GO) build -o build/athena-usage ./cmd/athena-usage && \
		echo "python3 test/clientpy/client.py build/athena-usage" && \
		python3 test/clientpy/client.py build/athena-usage

.PHONY: browser-check
browser-check: ## render a demo's HTML report and check it in headless Chromium (DEMO_DIR=DIR: the demo run there)
	$(if $(DEMO_DIR),,$(GO) run ./cmd/athena-usage demo --dir build/demo > /dev/null)
	$(GO) run ./cmd/athena-usage local report --dir $(or $(DEMO_DIR),build/demo)/state $(DEMO_DAYS) \
		--format html --out build/report.html
	scripts/browser-check.sh build/report.html build/report.png
	scripts/browser-check.sh --self-test

.PHONY: sql-grammar
sql-grammar: ## parse every SQL statement sent to Athena with Trino and Hive grammars (dt-sql-parser), then self-test
	GO=$(GO) test/sqlgrammar/run.sh

.PHONY: bench
bench: ## run each benchmark once; they print their own figures
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -timeout 30m ./...

.PHONY: fmt
fmt: ## rewrite the Go files with gofmt
	gofmt -w $$($(GO) list -f '{{.Dir}}' ./...)

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt, go mod tidy, go vet, golangci-lint, the import rule and cfn-lint
	@out=$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...)); \
		if [ -n "$$out" ]; then echo "gofmt needed (run make fmt):" >&2; echo "$$out" >&2; exit 1; fi
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy" >&2; exit 1; }
	$(GO) vet ./...
	$(GOLANGCI_LINT_RUN) ./...
	@$(MAKE) --no-print-directory lint-import-rule check-deps
	@command -v $(CFN_LINT) >/dev/null || { echo "$(CFN_LINT) not found; pip install cfn-lint" >&2; exit 1; }
	$(CFN_LINT) template.yaml

# The import rule: pkg/ and functions/ are the product and never import the local stack, the
# test harnesses, DuckDB or gofakes3. depguard (.golangci.yml) enforces it file by file.
MODULE := github.com/athenausage/athena-usage
# The probe is a package of its own, so that nothing imports it (no cycle, whatever it imports).
IMPORT_RULE_PROBE_DIR := pkg/zz_importrule_probe
IMPORT_RULE_PROBE := $(IMPORT_RULE_PROBE_DIR)/probe.go

.PHONY: lint-import-rule
lint-import-rule: $(GOLANGCI_LINT) ## prove depguard rejects an import of local/ from pkg/
	@trap 'rm -rf $(IMPORT_RULE_PROBE_DIR)' EXIT; mkdir -p $(IMPORT_RULE_PROBE_DIR); \
		printf '%s\n' '// Package probe is written and removed by make lint-import-rule.' 'package probe' '' \
			'import _ "$(MODULE)/local/synth"' > $(IMPORT_RULE_PROBE); \
		if out=$$($(GOLANGCI_LINT_RUN) --enable-only depguard ./$(IMPORT_RULE_PROBE_DIR)/ 2>&1); then \
			echo "lint-import-rule: depguard accepted $(IMPORT_RULE_PROBE) importing local/synth" >&2; exit 1; fi; \
		if ! grep -qE '$(IMPORT_RULE_PROBE):.*import .*$(MODULE)/local/synth.* is not allowed from list .product.*\(depguard\)' <<<"$$out"; then \
			echo "lint-import-rule: golangci-lint failed, but not with depguard's message:" >&2; echo "$$out" >&2; exit 1; fi; \
		echo "lint-import-rule: depguard rejects pkg/ importing local/: $$(grep -m1 -o 'import .*(depguard)' <<<"$$out")"

.PHONY: check-deps
check-deps: ## the product's dependency graph: no DuckDB or gofakes3; the Lambdas link only pkg/
	@deps=$$($(GO) list -deps -test ./pkg/... ./functions/...); \
		bad=$$(grep -E '^github\.com/(duckdb|johannesboyne/gofakes3)(/|$$)' <<<"$$deps" || true); \
		if [ -n "$$bad" ]; then echo "pkg/ or functions/ depend on:" >&2; echo "$$bad" >&2; exit 1; fi; \
		own=$$($(GO) list -deps -f '{{.ImportPath}}' ./functions/... | grep -E '^$(MODULE)(/|$$)'); \
		stray=$$(grep -vE '^$(MODULE)/(pkg|functions)/' <<<"$$own" || true); \
		if [ -n "$$stray" ]; then echo "functions/ link first-party packages outside pkg/:" >&2; echo "$$stray" >&2; exit 1; fi; \
		echo "check-deps: pkg/ and functions/ without DuckDB or gofakes3; functions/ link $$(wc -l <<<"$$own") first-party packages, all under pkg/ or functions/"

.PHONY: demo
demo: ## run the end-to-end demo on the local Athena and S3 stand-ins (into DEMO_DIR, default demo-state/)
	$(GO) run ./cmd/athena-usage demo $(if $(DEMO_DIR),--dir $(DEMO_DIR))

.PHONY: deploy
deploy: ## build with SAM and deploy the stack, asking for the parameters (see docs/deploy.md)
	$(SAM) build
	$(SAM) deploy --guided

.PHONY: tools
tools: $(GOTESTSUM) $(GOLANGCI_LINT) ## install the pinned gotestsum and golangci-lint into $(TOOLS_BIN)

# Each tool is installed under a versioned name, so changing a pin installs the new version.
$(GOTESTSUM):
	@mkdir -p $(GOBIN)
	GOBIN=$(GOBIN) $(GO) install gotest.tools/gotestsum@$(GOTESTSUM_VERSION)
	mv $(GOBIN)/gotestsum $@

$(GOLANGCI_LINT):
	@mkdir -p $(GOBIN)
	GOBIN=$(GOBIN) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	mv $(GOBIN)/golangci-lint $@

.PHONY: clean
clean: ## remove build outputs (keeps the tools in $(TOOLS_BIN))
	rm -rf build .aws-sam
