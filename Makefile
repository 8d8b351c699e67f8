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

demo: build
	$(LAB) up
	bash scripts/demo.sh
