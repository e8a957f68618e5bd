# Firmchain — one-command set-up, build, test and demo on Debian bookworm with Swift 6.
#
#   make demo    install what is missing, build, run the example end to end and check it
#   make test    install what is missing, run every test (interop tests included)
#
# Everything else is a building block of those two, or a long run with its own target.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

SWIFT        ?= swift
VENV         := .venv
PYTHON       := $(VENV)/bin/python
BIN          := .build/debug/firmchain
# Debian packages the build and the tests need (interop checkers included).
APT_PACKAGES := libssl-dev libp11-kit-dev softhsm2 opensc bsdiff libbz2-dev liblzma-dev python3-venv xz-utils bzip2 mender-artifact swupdate rauc squashfs-tools cpio
# Extra packages only the benchmarks need.
BENCH_APT    := xdelta3 zstd libdivsufsort-dev time
SUDO         := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help setup apt venv build test demo clean bench-delta bench-delta-windowed bench-sa bench-sign bench-encrypt fuzz

help:
	@echo "make demo    build and run the example release end to end"
	@echo "make test    run every test, interop tests included"
	@echo "make setup   install missing Debian packages and the Python venv (idempotent)"
	@echo "make bench-delta | bench-delta-windowed | bench-sa | bench-sign | bench-encrypt | fuzz   long runs, not part of make test (fuzz: FUZZ_SECONDS per target)"

## setup: idempotent; installs only what is missing.
setup: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES) $(EXTRA_APT); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "setup: installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "setup: Debian packages present"; fi

venv: $(VENV)/.installed

$(VENV)/.installed: Scripts/requirements.txt
	@[ -x $(PYTHON) ] || /usr/bin/python3 -m venv $(VENV)
	@$(PYTHON) -m pip install -q --disable-pip-version-check -r Scripts/requirements.txt
	@touch $@
	@echo "setup: Python venv $(VENV) ready ($$($(PYTHON) -m pip freeze | grep -ciE '^(tuf|in-toto|securesystemslib|pycose|bsdiff4)=') pinned tools)"

build: apt
	$(SWIFT) build

## test: every test; interop tests find the venv through FIRMCHAIN_PYTHON.
test: setup
	$(SWIFT) build --build-tests
	FIRMCHAIN_PYTHON=$(CURDIR)/$(PYTHON) $(SWIFT) test --skip-build

demo: setup build
	FIRMCHAIN=$(CURDIR)/$(BIN) PYTHON=$(CURDIR)/$(PYTHON) Scripts/demo.sh

bench-delta:
	$(MAKE) setup EXTRA_APT="$(BENCH_APT)"
	$(SWIFT) build -c release
	PYTHON=$(CURDIR)/$(PYTHON) Benchmarks/delta/run.sh

## bench-delta-windowed: delta create --max-memory, its size cost on corpus pairs and a generated multi-GiB pair.
bench-delta-windowed:
	$(MAKE) setup EXTRA_APT="$(BENCH_APT)"
	$(SWIFT) build -c release
	Benchmarks/delta/windowed.sh

## bench-sa: SuffixArray.build against libdivsufsort on the corpus' old images (SA_FILES to override).
CORPUS       ?= corpus-data
CORPUS_FETCH ?= ../shared/corpus/fetch.sh
SA_FILES     ?= $(CORPUS)/L1-kernel-arm64/old $(CORPUS)/M1-pydantic-so/old $(CORPUS)/P1-sparse64/old $(CORPUS)/P3-random8/old
bench-sa:
	$(MAKE) apt EXTRA_APT="$(BENCH_APT)"
	$(CORPUS_FETCH) $(CORPUS)
	Benchmarks/suffix-array/run.sh $(SA_FILES)
## fuzz: libFuzzer + ASan on every parser of untrusted bytes, FUZZ_SECONDS each (default 60;
## FUZZ_TARGETS to pick some; Docs/fuzzing.md).
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=
fuzz:
	Tests/Fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_TARGETS)

bench-sign: setup
	$(SWIFT) build -c release
	Benchmarks/sign/run.sh

## bench-encrypt: the AES-GCM engine in memory and firmchain encrypt on a 4 GiB sparse file (peak RSS,
## throughput) beside openssl speed (SIZE_GIB, ROUNDS to override).
bench-encrypt:
	$(MAKE) apt EXTRA_APT="$(BENCH_APT)"
	$(SWIFT) build -c release --product firmchain
	$(SWIFT) build -c release --product encrypt-bench
	Benchmarks/encrypt/run.sh

clean:
	rm -rf .build $(VENV) .firmchain
