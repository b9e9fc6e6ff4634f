# hongxin — the two commands a new machine needs are `make run` and `make test`.

CARGO ?= cargo
BUF_VERSION := 1.75.0
TOOLS := .tools
BUF := $(TOOLS)/node_modules/.bin/buf

.PHONY: run test lint bench build fmt buf clean

## Builds and starts the embedded default: every service in one process,
## SQLite under ./data, the dashboard on http://127.0.0.1:8080.
run:
	$(CARGO) run --release -p hongxin -- up

## Brings up PostgreSQL and NATS where missing, then runs every test.
test:
	@bash deploy/local/ensure-services.sh
	@if command -v cargo-nextest >/dev/null; then \
		$(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		$(CARGO) test --workspace --no-fail-fast; \
	fi

## rustfmt, clippy with warnings denied, buf lint on proto/.
lint: $(BUF)
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	cd proto && ../$(BUF) lint

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

clean:
	$(CARGO) clean
	rm -rf $(TOOLS)
