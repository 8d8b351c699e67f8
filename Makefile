# causeway: the two entry points are `make demo` and `make test` (see README.md).
CARGO ?= cargo
LAB := ./target/debug/causeway-lab

.PHONY: all build test demo lab-up lab-down lint crds controller-bin images dev-images

all: build

build:
	$(CARGO) build --workspace --all-targets

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p causeway-cli --no-default-features -- -D warnings
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps

# The CRDs into the chart (charts/causeway/crds/), then deploy/ re-rendered from the chart.
crds: build
	./target/debug/causeway crds > charts/causeway/crds/causeway-crds.yaml
	bash tools/helm/render-deploy.sh

# deploy/ from the chart (helm template; crates/causeway-cli/tests/chart.rs fails on drift).
.PHONY: deploy
deploy:
	bash tools/helm/render-deploy.sh

# causeway's images and the lab's workload images (pause, serve, CoreDNS), built with buildah into
# target/images/ (README.md, "Images"); `causeway-lab up` imports them into every node.
images:
	bash tools/images/build.sh

# The same images from the debug build `make build` made (what the lab runs in tests and the demo).
dev-images: build
	CAUSEWAY_IMAGE_PROFILE=dev bash tools/images/build.sh

lab-up: dev-images
	$(LAB) up

lab-down:
	@if [ -x $(LAB) ]; then $(LAB) down; fi

# Everything CI runs: lint, unit tests, integration tests against the lab's real apiservers,
# then the lab lifecycle test (which stops the lab, so it runs last and alone).
test: lint dev-images
	$(LAB) up
	$(CARGO) test --workspace
	$(CARGO) test -p causeway-test-support --test lab_lifecycle -- --ignored

# The seed's migration scenario on two real clusters (README.md, "The demo"); starts the lab if it
# is down (and stops it at the end), else reuses it. `make demo DEMO_ARGS=--keep` leaves it running.
demo: dev-images
	$(LAB) demo $(DEMO_ARGS)

# The controller image's binary: `causeway` with only `controller` and `crds`, optimised for
# size (profile `deploy` in Cargo.toml): target/deploy/causeway.
controller-bin:
	$(CARGO) build --profile deploy -p causeway-cli --no-default-features

# Benchmarks on the running lab (not part of `make test`): causeway's controller, as its image
# runs it, against the upstream mcs-api servicecontroller. See README.md, "Benchmarks".
.PHONY: bench
bench: controller-bin
	$(CARGO) build --release -p causeway-cli -p causeway-bench
	./target/release/causeway-bench imports --causeway-bin target/deploy/causeway

# Fuzz the DNS request handler for FUZZ_SECONDS (cargo-fuzz: `cargo install cargo-fuzz`; on a
# stable toolchain RUSTC_BOOTSTRAP=1 lets it use the nightly-only sanitizer flags), then shrink
# the committed corpus (crates/causeway-dns/fuzz/corpus/handle_wire) and replay it, with the
# crash regressions, on stable as `make test` does. A crash leaves its input under
# crates/causeway-dns/fuzz/artifacts/: fix it, then add it to fuzz/regressions/handle_wire/.
FUZZ_SECONDS ?= 600
.PHONY: fuzz
fuzz:
	cd crates/causeway-dns && RUSTC_BOOTSTRAP=1 cargo fuzz run handle_wire -O \
		fuzz/corpus/handle_wire fuzz/regressions/handle_wire \
		-- -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1
	cd crates/causeway-dns && RUSTC_BOOTSTRAP=1 cargo fuzz cmin handle_wire -O fuzz/corpus/handle_wire
	$(CARGO) test -p causeway-dns --test fuzz_corpus
