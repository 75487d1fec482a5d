# FashionBench: `make run` and `make test` do everything on a fresh Debian 12 machine.
APT_PACKAGES := libopenblas-dev libhdf5-dev gnuplot-nox dataset-fashion-mnist zlib1g-dev libssl-dev libjpeg-dev libpng-dev
SWIFT ?= $(shell command -v swift 2>/dev/null || echo /opt/swift/usr/bin/swift)
EXPERIMENT ?= Experiments/model_2.yaml

.PHONY: run test test-wide build deps bench clean

# Installs the Debian packages the project needs, only those missing (apt-get needs root or sudo).
deps:
	@missing=""; for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

build: deps
	$(SWIFT) build -c release

run: build
	.build/release/fashionbench run $(EXPERIMENT)

bench: build
	.build/release/fashionbench bench $(EXPERIMENT)

# Unit tests, generated fixtures, and the end-to-end checks on the real Fashion-MNIST.
# Release mode: the numeric kernels are unusably slow unoptimised.
test: deps
	$(SWIFT) test -c release --no-parallel

# The same tests with the AVX-512 kernels compiled for AVX2 (-DFB_EMULATE_WIDE, its own build
# directory): an AVX2-only host runs the 16-float code paths an AVX-512 host would take.
test-wide: deps
	$(SWIFT) test -c release --no-parallel -Xcc -DFB_EMULATE_WIDE --scratch-path .build-wide

clean:
	rm -rf .build .build-wide
