# causeway: the two entry points are `make demo` and `make test` (see README.md).
CARGO ?= cargo
LAB := ./target/debug/causeway-lab

.PHONY: all build test demo lab-up lab-down lint crds

all: build

build:
	$(CARGO) build --workspace --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

crds: build
	./target/debug/causeway crds > deploy/crds/causeway-crds.yaml

lab-up: build
	$(LAB) up

lab-down:
	@if [ -x $(LAB) ]; then $(LAB) down; fi

# Everything CI runs: lint, unit tests, integration tests against the lab's real apiservers,
# then the lab lifecycle test (which stops the lab, so it runs last and alone).
test: lint build
	$(LAB) up
	$(CARGO) test --workspace
	$(CARGO) test -p causeway-test-support --test lab_lifecycle -- --ignored

# The seed's migration scenario on two real clusters (README.md, "The demo"); starts the lab if it
# is down (and stops it at the end), else reuses it. `make demo DEMO_ARGS=--keep` leaves it running.
demo: build
	$(CARGO) build -p causeway-cli -p causeway-lab
	$(LAB) demo $(DEMO_ARGS)

# Benchmarks on the running lab (not part of `make test`): causeway's controller against the
# upstream mcs-api servicecontroller. See README.md, "Benchmarks".
.PHONY: bench
bench:
	$(CARGO) build --release -p causeway-cli -p causeway-bench
	./target/release/causeway-bench imports
