#!/usr/bin/env bash
# Installs what building and testing xraygpt-go needs on a fresh machine.
#   Debian/Ubuntu: C/C++ compiler, make, OpenBLAS (optional fast vision path),
#                  and the Vulkan toolchain + Mesa's CPU Vulkan driver (lavapipe)
#                  used by the GPU-backend tests, Slurm + munge for the
#                  job-array test (deploy/slurm), OpenJPEG and CharLS (JPEG 2000 and
#                  JPEG-LS DICOM, loaded at run time), GDCM's and dcmtk's tools (the
#                  DICOM codec tests' reference decoders), and chromium and
#                  nodejs/npm for the server's browser and openai-client tests.
#   macOS:         checks for the Xcode command line tools and Go.
# Go itself (>= 1.22; the go command fetches the exact toolchain in go.mod)
# must already be installed: https://go.dev/doc/install
set -euo pipefail

case "$(uname -s)" in
Linux)
	if ! command -v apt-get >/dev/null 2>&1; then
		echo "install-deps: no apt-get here; install a C/C++ compiler, make, cmake, OpenBLAS, glslc and the Vulkan headers yourself" >&2
		exit 0
	fi
	pkgs=(build-essential pkg-config libopenblas0-pthread cmake ninja-build glslc libvulkan-dev mesa-vulkan-drivers
		slurmctld slurmd slurm-client munge          # a one-node Slurm cluster for deploy/slurm's test
		libgdcm-tools dcmtk libopenjp2-7 libcharls2 # DICOM codecs and their reference decoders
		chromium nodejs)                            # the server's browser and openai-client tests
	# NodeSource's nodejs carries npm (and conflicts with Debian's npm package).
	command -v npm >/dev/null 2>&1 || pkgs+=(npm)
	missing=()
	for p in "${pkgs[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
	done
	if ((${#missing[@]})); then
		SUDO=""
		[ "$(id -u)" -eq 0 ] || SUDO=sudo
		echo "install-deps: installing ${missing[*]}" >&2
		$SUDO apt-get update -qq
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
	;;
Darwin)
	xcode-select -p >/dev/null 2>&1 || { echo "install-deps: run 'xcode-select --install' first" >&2; exit 1; }
	;;
esac

if ! command -v go >/dev/null 2>&1; then
	echo "install-deps: Go is not installed: see https://go.dev/doc/install (Go 1.22 or newer)" >&2
	exit 1
fi
go mod download
# The official openai client the server tests run, from the committed lock file.
if command -v npm >/dev/null 2>&1; then
	(cd "$(dirname "$0")/../server/testdata/openai-client" && npm ci --no-audit --no-fund --silent)
fi
