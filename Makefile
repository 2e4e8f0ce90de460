# Ternserve: the two commands a new user needs on a fresh Debian 12 machine.
#   make serve   install what is missing, build, and serve the shipped model on 127.0.0.1:8001
#   make test    install what is missing, build, and run every test
# Everything comes from Debian 12 packages; nothing is downloaded at build or run time.

BUILD_DIR   ?= build
BUILD_TYPE  ?= Release
JOBS        ?= 2
BUNDLE      ?= models/ternserve.tsn
HOST        ?= 127.0.0.1
PORT        ?= 8001
SERVE_FLAGS ?=

# Build tools, libraries, the data set, the runtime BLAS and matplotlib (the trainer's plots); prometheus-cpp for
# the server's metrics and prometheus for promtool, which the metrics test runs.
# libopenblas0-openmp matters: without it Debian's LibTorch falls back to the reference BLAS (~30x slower),
# which would make every LibTorch baseline unfair.
APT_PACKAGES := g++ cmake ninja-build pkg-config \
  libtorch-dev libopenblas0-openmp \
  libgrpc++-dev protobuf-compiler-grpc protobuf-compiler libprotobuf-dev libabsl-dev \
  nlohmann-json3-dev libspdlog-dev libspng-dev zlib1g-dev \
  libgtest-dev libgmock-dev libbenchmark-dev \
  prometheus-cpp-dev prometheus python3-grpcio \
  dataset-fashion-mnist python3-matplotlib

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: all deps configure build serve test clean help

all: build

help:
	@echo "make serve   install missing Debian packages, build, serve $(BUNDLE) on $(HOST):$(PORT)"
	@echo "make test    install missing Debian packages, build, run every test (ctest)"
	@echo "make deps    only install missing Debian packages (apt-get; needs root or sudo)"
	@echo "make build   only configure and build into $(BUILD_DIR)/ (binaries in $(BUILD_DIR)/bin)"

# Idempotent: installs only what is missing, running apt-get update first (a fresh machine has empty lists).
deps:
	@missing=$$(for p in $(APT_PACKAGES); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed$$' || echo $$p; \
	  done); \
	if [ -z "$$missing" ]; then echo "deps: all $(words $(APT_PACKAGES)) Debian packages present"; exit 0; fi; \
	echo "deps: installing" $$missing; \
	if [ "$$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then \
	  echo "deps: these packages are missing and installing them needs root: run 'make deps' as root," \
	       "or install sudo, or: apt-get install" $$missing >&2; exit 1; fi; \
	$(SUDO) apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $$missing

configure: deps
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=$(BUILD_TYPE)

build: configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

serve: build
	$(BUILD_DIR)/bin/ternserve --bundle=$(BUNDLE) --host=$(HOST) --port=$(PORT) $(SERVE_FLAGS)

test: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j $(JOBS)

clean:
	rm -rf $(BUILD_DIR)
