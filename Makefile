# xraygpt-go build. `make` builds bin/xraygpt, `make test` runs every test.
#
# llama.cpp and ggml come from the pinned Go module github.com/ollama/ollama,
# compiled by cgo. Our cgo code includes llama.h from that module, so the
# include paths are passed through CGO_CPPFLAGS here. `make env` prints the
# same settings for running go build / go test by hand:
#     eval "$(make -s env)" && go test ./...

GO ?= go
# CPU_TARGET=native (default) optimizes ggml for this machine;
# CPU_TARGET=portable builds a binary that runs on any CPU of this architecture;
# CPU_TARGET=x86-64-v3 (or any -march value) targets a named level.
CPU_TARGET ?= native

OLLAMA_DIR := $(shell $(GO) list -m -f '{{.Dir}}' github.com/ollama/ollama 2>/dev/null)
ifeq ($(OLLAMA_DIR),)
OLLAMA_DIR := $(shell $(GO) mod download github.com/ollama/ollama >/dev/null && $(GO) list -m -f '{{.Dir}}' github.com/ollama/ollama)
endif

UNAME_M := $(shell uname -m)
ifeq ($(CPU_TARGET),portable)
ARCH_FLAGS :=
else ifeq ($(CPU_TARGET),native)
ifneq ($(filter arm64 aarch64,$(UNAME_M)),)
ARCH_FLAGS := -mcpu=native
else
ARCH_FLAGS := -march=native
endif
else
ARCH_FLAGS := -march=$(CPU_TARGET)
endif

export CGO_ENABLED := 1
# GGML_USE_CPU_REPACK registers ggml's CPU_REPACK buffer type, as llama.cpp's
# own CMake build does (GGML_CPU_REPACK=ON) and the module's cgo files do not:
# Q4_0, Q4_K and IQ4_NL weights are then interleaved at load for ggml's
# AVX2/AVX-512 and NEON GEMM kernels (7B Q4_K on a Zen 5: prompt 1.12x the
# release build's speed in the same run, 0.45x without; bench/oneshot.sh).
export CGO_CPPFLAGS := -I$(OLLAMA_DIR)/llama/llama.cpp/include -I$(OLLAMA_DIR)/ml/backend/ggml/ggml/include -DGGML_USE_CPU_REPACK
export CGO_CFLAGS := -O3 $(ARCH_FLAGS)
export CGO_CXXFLAGS := -O3 $(ARCH_FLAGS)

BIN := bin/xraygpt

# On Linux with CMake and glslc (build/install-deps.sh installs them), the
# tests also build the Vulkan plugin and run the GPU-backend tests on Mesa's
# lavapipe, a CPU Vulkan driver that ggml lists with GGML_VK_VISIBLE_DEVICES=0.
TEST_PLUGINS := $(shell [ "$$(uname -s)" = Linux ] && command -v cmake >/dev/null 2>&1 && command -v glslc >/dev/null 2>&1 && echo vulkan)

# The demo: the bundled X-ray with the configured real weights, or else the
# toy demo model (see demo/README.md).
DEMO_IMAGE ?= demo/example-xray.png
DEMO_MODEL ?= demo/radllama-demo-q8_0.gguf
DEMO_VISION ?= demo/xraygpt-demo-vision.gguf

.PHONY: all build test demo env clean
all: build

build:
	$(GO) build -o $(BIN) ./cmd/xraygpt

# The packages with concurrency (the scheduler, batch's pipeline, the CLI's
# commands on top of them, the binding's locks) also run under the race
# detector.
RACE_PKGS := ./engine/ ./batch/ ./cmd/... ./llama/

test: $(TEST_PLUGINS)
	$(GO) mod tidy -diff # go.mod and go.sum list exactly what the code imports
	$(GO) vet ./...
	GGML_VK_VISIBLE_DEVICES=0 XRAYGPT_TEST_REQUIRE_GPU=$(if $(TEST_PLUGINS),1,) $(GO) test -timeout 40m ./...
	$(GO) test -race -timeout 30m $(RACE_PKGS)

demo: build
	@if [ -n "$$XRAYGPT_MODEL$$XRAYGPT_MODEL_DIR" ] || [ -f "$${XDG_CONFIG_HOME:-$$HOME/.config}/xraygpt/config.json" ]; then \
		echo "make demo: using the configured weights" >&2; \
		$(BIN) summarize $(DEMO_IMAGE); \
	else \
		echo "make demo: no real weights configured, so this is the toy demo model: report-like text, NOT a diagnosis (see demo/README.md)" >&2; \
		$(BIN) summarize -m $(DEMO_MODEL) --vision $(DEMO_VISION) --temp 0 $(DEMO_IMAGE); \
	fi

env:
	@echo 'export CGO_ENABLED=1'
	@echo "export CGO_CPPFLAGS='$(CGO_CPPFLAGS)'"
	@echo "export CGO_CFLAGS='$(CGO_CFLAGS)'"
	@echo "export CGO_CXXFLAGS='$(CGO_CXXFLAGS)'"

clean:
	rm -rf bin lib dist

# ---- GPU backends and distribution --------------------------------------
# (third_party/README.md and third_party/GPU.md describe the backends)
# `make vulkan` / `make cuda` build ggml backend plugins from the pinned
# module's ggml sources into lib/, next to bin/, where bin/xraygpt finds them.
# Build folders live in build/out/ (kept between runs; ccache is used when
# installed). `make cuda` needs nvcc; CUDA_ARCHITECTURES=native targets this
# machine's GPUs (e.g. CUDA_ARCHITECTURES=90 for H100/H200, or a list such as
# "75;80;86;89;90" for a distribution).
# `make dist` packs bin/xraygpt, lib/*, README.md, LICENSE and the MIT
# notices of ollama, llama.cpp and ggml (licenses/) into
# dist/xraygpt-<os>-<arch>.tar.gz; build it with CPU_TARGET=x86-64-v3 (or
# portable) when it is meant for other machines.
CUDA_ARCHITECTURES ?= native
DIST_NAME := xraygpt-$(shell $(GO) env GOOS)-$(shell $(GO) env GOARCH)
# Reproducible archives with GNU tar; BSD tar (macOS) takes the defaults.
DIST_TAR_FLAGS := $(shell tar --version 2>/dev/null | grep -q GNU && echo --sort=name --owner=0 --group=0 --numeric-owner)

.PHONY: vulkan cuda dist clean-gpu
vulkan:
	OLLAMA_DIR='$(OLLAMA_DIR)' build/ggml-plugins.sh vulkan

cuda:
	OLLAMA_DIR='$(OLLAMA_DIR)' CUDA_ARCHITECTURES='$(CUDA_ARCHITECTURES)' build/ggml-plugins.sh cuda

dist: build
	@if [ '$(CPU_TARGET)' = native ]; then echo "dist: note: bin/xraygpt is built for this CPU (CPU_TARGET=native); use CPU_TARGET=x86-64-v3 or portable for other machines"; fi
	rm -rf dist/$(DIST_NAME) && mkdir -p dist/$(DIST_NAME)/bin
	cp $(BIN) dist/$(DIST_NAME)/bin/
	if [ -d lib ] && [ -n "$$(ls -A lib)" ]; then cp -RL lib dist/$(DIST_NAME)/lib; fi
	cp README.md LICENSE dist/$(DIST_NAME)/
	mkdir -p dist/$(DIST_NAME)/licenses
	cp $(OLLAMA_DIR)/LICENSE dist/$(DIST_NAME)/licenses/ollama.txt
	cp $(OLLAMA_DIR)/llama/llama.cpp/LICENSE dist/$(DIST_NAME)/licenses/llama.cpp.txt
	cp $(OLLAMA_DIR)/ml/backend/ggml/ggml/LICENSE dist/$(DIST_NAME)/licenses/ggml.txt
	tar -C dist $(DIST_TAR_FLAGS) -czf dist/$(DIST_NAME).tar.gz.tmp $(DIST_NAME)
	mv dist/$(DIST_NAME).tar.gz.tmp dist/$(DIST_NAME).tar.gz
	rm -rf dist/$(DIST_NAME)
	@echo "dist: wrote dist/$(DIST_NAME).tar.gz"; tar -tzvf dist/$(DIST_NAME).tar.gz

clean-gpu:
	rm -rf build/out
