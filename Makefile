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
export CGO_CPPFLAGS := -I$(OLLAMA_DIR)/llama/llama.cpp/include -I$(OLLAMA_DIR)/ml/backend/ggml/ggml/include
export CGO_CFLAGS := -O3 $(ARCH_FLAGS)
export CGO_CXXFLAGS := -O3 $(ARCH_FLAGS)

BIN := bin/xraygpt

.PHONY: all build test env clean
all: build

build:
	$(GO) build -o $(BIN) ./cmd/xraygpt

test:
	$(GO) vet ./...
	$(GO) test ./...

env:
	@echo 'export CGO_ENABLED=1'
	@echo "export CGO_CPPFLAGS='$(CGO_CPPFLAGS)'"
	@echo "export CGO_CFLAGS='$(CGO_CFLAGS)'"
	@echo "export CGO_CXXFLAGS='$(CGO_CXXFLAGS)'"

clean:
	rm -rf bin lib dist
