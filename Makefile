# hongxin — the two commands a new machine needs are `make run` and `make test`.

CARGO ?= cargo
BUF_VERSION := 1.75.0
TOOLS := .tools
BUF := $(TOOLS)/node_modules/.bin/buf
CARGO_DENY_VERSION := 0.20.2
CARGO_DENY := $(TOOLS)/cargo/bin/cargo-deny
ECHARTS_VERSION := 6.1.0
ECHARTS_VENDORED := services/projection/web/vendor/echarts.min.js

.PHONY: run test lint bench build fmt buf vendor clean

## Builds and starts the embedded default: every service in one process,
## SQLite under ./data, the dashboard on http://127.0.0.1:8080.
run:
	$(CARGO) run --release -p hongxin -- up

## Brings up PostgreSQL and NATS where missing, then runs every test; last the
## dashboard in a browser (tests/browser, Debian's chromium).
test:
	@bash deploy/local/ensure-services.sh
	@if command -v cargo-nextest >/dev/null; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi
	@bash tests/browser/run.sh

## rustfmt, clippy with warnings denied, buf lint on proto/, and the
## dependencies' licences and sources (cargo deny, deny.toml).
lint: $(BUF) $(CARGO_DENY)
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd proto && ../$(BUF) lint
	$(CARGO_DENY) --log-level error check licenses bans sources

## Event store and relay throughput beside raw ceilings; see BENCHMARKS.md.
bench:
	@bash deploy/local/ensure-services.sh
	$(CARGO) run --release -p hongxin-bench -- all

build:
	$(CARGO) build --workspace

fmt:
	$(CARGO) fmt --all

$(BUF):
	mkdir -p $(TOOLS)
	npm install --prefix $(TOOLS) --no-audit --no-fund --silent @bufbuild/buf@$(BUF_VERSION)

buf: $(BUF)

# cargo-deny from crates.io, built once into .tools/.
$(CARGO_DENY):
	$(CARGO) install --quiet --locked cargo-deny@$(CARGO_DENY_VERSION) --root $(TOOLS)/cargo

## Apache ECharts for the dashboard, from the npm registry into .tools/, then
## copied beside the page (the vendored file is committed; no CDN at run time).
vendor:
	mkdir -p $(TOOLS)
	npm install --prefix $(TOOLS) --no-audit --no-fund --silent echarts@$(ECHARTS_VERSION)
	mkdir -p $(dir $(ECHARTS_VENDORED))
	cp $(TOOLS)/node_modules/echarts/dist/echarts.min.js $(ECHARTS_VENDORED)

clean:
	$(CARGO) clean
	rm -rf $(TOOLS)
