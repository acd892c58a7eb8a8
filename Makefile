# connscope: `make run` analyzes a bundled capture; `make test` runs every test.
# Both first install what a fresh Debian machine with Rust lacks.

CARGO ?= cargo
# Debian packages: libpcap-dev to build; tshark (second opinion) and time (peak RSS) for tests;
# nginx-light, apache2-utils (ab), curl, wrk, tcpdump and jq for the live tests and make bench-live.
DEB_PACKAGES := libpcap-dev tshark time nginx-light apache2-utils curl wrk tcpdump jq
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all setup build run test lint unit fuzz bench bench-live captures clean

all: build

setup:
	@missing=""; for p in $(DEB_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  $(SUDO) apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -q $$missing; \
	fi

build: setup
	$(CARGO) build --release

run: build
	./target/release/connscope analyze captures/keepalive.pcap captures/request-cap.pcap captures/proxy-close.pcap

lint: setup
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets -- -D warnings

test: setup lint unit fuzz

unit: setup
	$(CARGO) test --all-targets

# Each cargo-fuzz target (decode, capture, reassembly, http) for FUZZ_SECS seconds; fails on
# any crash. Without a nightly toolchain, RUSTC_BOOTSTRAP lets stable take cargo-fuzz's flags.
# FUZZ_SANITIZER=address for AddressSanitizer (needs nightly's runtime).
FUZZ_SECS ?= 60
fuzz: setup
	@command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	FUZZ_SANITIZER=$${FUZZ_SANITIZER:-none} bash fuzz/run.sh $(FUZZ_SECS)

# connscope live on a veth into a network namespace with nginx under wrk load, against
# tcpdump on the same interface; figures in BENCHMARKS.md (root).
bench-live: build
	bash bench/live.sh

# Regenerates captures/ from real servers and clients (root; see captures/README.md).
captures:
	bash captures/generate.sh

clean:
	$(CARGO) clean

# Times connscope against tcptrace and tshark on a large capture of real traffic (made once,
# cached outside the repo), then runs the criterion benchmarks. See BENCHMARKS.md.
bench: build
	bash bench/run.sh
	$(CARGO) bench --bench hot_paths
