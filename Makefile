# athena-usage: every command a person needs is a target here; `make help` lists them.

SHELL := /bin/bash
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

# Lambda's provided.al2023 runtime on Graviton runs one static binary named bootstrap.
# lambda.norpc drops the RPC shim that only the old go1.x runtime needed.
LAMBDA_ENV := GOOS=linux GOARCH=arm64 CGO_ENABLED=0
LAMBDA_FLAGS := -tags lambda.norpc -trimpath -ldflags='-s -w'
# A bootstrap above this size means something heavy (DuckDB, the plotting stack) leaked in.
MAX_BOOTSTRAP_BYTES := 15728640
FUNCTIONS := extract lookup

# The race detector is on by default: on 2 cores `go test -race ./...` takes about 1 min warm and
# 2.5 min from a cold cache, against 30 s without it (DuckDB's cgo link dominates). RACE= turns it off.
RACE ?= 1
TESTFLAGS ?= $(if $(RACE),-race,)
# Use gotestsum when `make tools` has installed it, plain go test otherwise. TEST_JSON=FILE also
# keeps the `go test -json` events, which .ci/run counts for its closing line.
TEST_JSON ?=
GOTEST = $(if $(wildcard $(GOTESTSUM)),$(GOTESTSUM) --format pkgname $(if $(TEST_JSON),--jsonfile $(TEST_JSON)) --,$(GO) test)

.PHONY: help
help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-22s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build-ExtractFunction
build-ExtractFunction: ## SAM makefile builder: functions/extract into $(ARTIFACTS_DIR)/bootstrap
	$(call lambda-build,extract,$(ARTIFACTS_DIR))

.PHONY: build-LookupFunction
build-LookupFunction: ## SAM makefile builder: functions/lookup into $(ARTIFACTS_DIR)/bootstrap
	$(call lambda-build,lookup,$(ARTIFACTS_DIR))

# lambda-build builds ./functions/$(1) into $(2)/bootstrap for linux/arm64.
define lambda-build
	@test -n "$(2)" || { echo "ARTIFACTS_DIR is not set (sam build sets it)" >&2; exit 1; }
	$(LAMBDA_ENV) $(GO) build $(LAMBDA_FLAGS) -o $(2)/bootstrap ./functions/$(1)
endef

.PHONY: build
build: ## build both bootstraps into build/<function>/ (linux/arm64) and check them
	$(call lambda-build,extract,build/extract)
	$(call lambda-build,lookup,build/lookup)
	@$(MAKE) --no-print-directory check-bootstraps

.PHONY: check-bootstraps
check-bootstraps: ## check the built bootstraps: size, CGO_ENABLED=0, no DuckDB
	@set -e; for f in $(FUNCTIONS); do \
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
		if grep -qi duckdb <<<"$$info"; then \
			echo "$$bin: links DuckDB:" >&2; grep -i duckdb <<<"$$info" >&2; exit 1; fi; \
		echo "$$bin: $$size bytes, CGO_ENABLED=0, linux/arm64, no DuckDB"; \
	done

.PHONY: test
test: ## run the unit tests with the race detector (RACE= without)
	$(GOTEST) $(TESTFLAGS) ./...

.PHONY: test-integration
test-integration: $(GOTESTSUM) ## against real components: MinIO, the built Lambda binaries, headless Chromium
	scripts/minio.sh build
	scripts/minio.sh start
	@set -a; . .cache/minio.env; set +a; \
		$(GOTEST) -tags integration $(TESTFLAGS) ./test/...; status=$$?; \
		scripts/minio.sh stop; exit $$status
	@$(MAKE) --no-print-directory browser-check

.PHONY: browser-check
browser-check: ## render the HTML report of a demo run and check it in headless Chromium
	$(GO) run ./cmd/athena-usage demo --dir build/demo > /dev/null
	$(GO) run ./cmd/athena-usage local report --dir build/demo/state --from 2025-03-03 --to 2025-03-05 \
		--format html --out build/report.html
	scripts/browser-check.sh build/report.html build/report.png
	scripts/browser-check.sh --self-test

.PHONY: sql-grammar
sql-grammar: ## parse every SQL statement sent to Athena with Trino and Hive grammars (dt-sql-parser), then self-test
	GO=$(GO) test/sqlgrammar/run.sh

.PHONY: bench
bench: ## run each benchmark once; they print their own figures
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 1x -timeout 30m ./pkg/... ./test/bench

.PHONY: fmt
fmt: ## rewrite the Go files with gofmt
	gofmt -w $$($(GO) list -f '{{.Dir}}' ./...)

.PHONY: lint
lint: $(GOLANGCI_LINT) ## gofmt check, go vet, golangci-lint and cfn-lint
	@out=$$(gofmt -l $$($(GO) list -f '{{.Dir}}' ./...)); \
		if [ -n "$$out" ]; then echo "gofmt needed (run make fmt):" >&2; echo "$$out" >&2; exit 1; fi
	$(GO) vet ./...
	$(GOLANGCI_LINT) run ./...
	@command -v $(CFN_LINT) >/dev/null || { echo "$(CFN_LINT) not found; pip install cfn-lint" >&2; exit 1; }
	$(CFN_LINT) template.yaml

.PHONY: demo
demo: ## run the end-to-end demo on the local Athena and S3 stand-ins
	$(GO) run ./cmd/athena-usage demo

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
