#!/usr/bin/env bash
# ggml-plugins.sh: build ggml GPU backends as loadable plugins into lib/.
#
#   build/ggml-plugins.sh vulkan|cuda
#
# The sources are the ggml tree of the pinned Go module github.com/ollama/ollama
# (the same code cgo compiles into bin/xraygpt). The module cache is read-only,
# so the tree is staged into a build folder first and configured there with
# build/ggml/CMakeLists.txt. Two fixes happen in the staged copy, never in the
# module (see third_party/README.md):
#   - the module zip lacks ggml-vulkan/vulkan-shaders/feature-tests/, the glslc
#     probe shaders; without them every probe "passes" and coopmat shaders fail
#     to compile. The probes are written here, one per extension, and the
#     configure log is checked against glslc's real answers.
#   - Vulkan headers older than 1.3.261 lack VK_EXT_layer_settings:
#     build/ggml/vk_layer_settings_compat.h is force-included into
#     ggml-vulkan.cpp (it declares nothing with newer headers).
# Anything in the sources that does not look as expected stops the build.
#
# Environment (all optional):
#   LIB_DIR             where the plugins go (default: <repo>/lib)
#   BUILD_ROOT          build folders (default: <repo>/build/out)
#   JOBS                parallel jobs (default: nproc)
#   OLLAMA_DIR          module folder (default: go list -m github.com/ollama/ollama)
#   CUDA_ARCHITECTURES  CMAKE_CUDA_ARCHITECTURES for cuda (default: native,
#                       i.e. the GPUs of this machine; e.g. 90 for H100/H200)
#   CMAKE_ARGS          extra arguments for the CMake configure step
set -euo pipefail

die() { echo "ggml-plugins: $*" >&2; exit 1; }
say() { echo "ggml-plugins: $*" >&2; }

backend=${1:-}
case "$backend" in
vulkan | cuda) ;;
*) die "usage: $0 vulkan|cuda" ;;
esac

repo=$(cd "$(dirname "$0")/.." && pwd)
LIB_DIR=${LIB_DIR:-$repo/lib}
BUILD_ROOT=${BUILD_ROOT:-$repo/build/out}
# The staged ggml copy holds the module's cgo .go files: a go.mod makes the
# build folder a module of its own, so "go test ./..." and "go vet ./..." in
# the repository never descend into it.
mkdir -p "$BUILD_ROOT" && printf 'module xraygpt.invalid/build-out\n' >"$BUILD_ROOT/go.mod"
JOBS=${JOBS:-$(nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)}

need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found: $2"; }
need cmake "install CMake >= 3.21 (Debian: apt-get install cmake)"
case "$backend" in
vulkan)
	need glslc "install the GLSL compiler (Debian: apt-get install glslc)"
	;;
cuda)
	if ! command -v "${CUDACXX:-nvcc}" >/dev/null 2>&1 && [ ! -x /usr/local/cuda/bin/nvcc ]; then
		die "nvcc not found: install the CUDA toolkit (12.x or 13.x) and put nvcc on PATH, or set CUDACXX"
	fi
	if ! command -v "${CUDACXX:-nvcc}" >/dev/null 2>&1; then
		export CUDACXX=/usr/local/cuda/bin/nvcc
	fi
	;;
esac

if [ -z "${OLLAMA_DIR:-}" ]; then
	need go "install Go, or set OLLAMA_DIR to the github.com/ollama/ollama module folder"
	OLLAMA_DIR=$(cd "$repo" && go list -m -f '{{.Dir}}' github.com/ollama/ollama 2>/dev/null || true)
	if [ -z "$OLLAMA_DIR" ]; then
		(cd "$repo" && go mod download github.com/ollama/ollama) || die "go mod download github.com/ollama/ollama failed"
		OLLAMA_DIR=$(cd "$repo" && go list -m -f '{{.Dir}}' github.com/ollama/ollama)
	fi
fi
ggml_src=$OLLAMA_DIR/ml/backend/ggml/ggml
[ -f "$ggml_src/src/CMakeLists.txt" ] || die "$ggml_src/src/CMakeLists.txt missing: has the module layout changed?"

# The glslc feature probes ggml-vulkan's CMakeLists.txt expects, as
# "file extension" pairs. A probe is a shader that only requires the extension.
probes="coopmat.comp:GL_KHR_cooperative_matrix
coopmat2.comp:GL_NV_cooperative_matrix2
integer_dot.comp:GL_EXT_integer_dot_product
bfloat16.comp:GL_EXT_bfloat16"

write_probe() { # file extension
	printf '#version 460\n#extension %s : require\nvoid main() {}\n' "$2" >"$1"
}

# check_probe_shape makes sure the CMake code still probes exactly the
# extensions above, each from the file we write for it.
check_probe_shape() {
	local cm=$ggml_src/src/ggml-vulkan/CMakeLists.txt got want
	[ -f "$cm" ] || die "$cm missing: has the module layout changed?"
	got=$(grep -o 'test_shader_extension_support(' "$cm" | wc -l)
	want=$(printf '%s\n' "$probes" | wc -l)
	[ "$got" -eq "$want" ] || die "$cm has $got glslc probes, expected $want: update the probe list in $0"
	local line file ext
	while IFS= read -r line; do
		file=${line%%:*} ext=${line#*:}
		# The call spans lines: extension name, then the probe file.
		tr -d ' \n' <"$cm" | grep -qF "test_shader_extension_support(\"$ext\"\"\${CMAKE_CURRENT_SOURCE_DIR}/vulkan-shaders/feature-tests/$file\"" ||
			die "$cm no longer probes $ext with vulkan-shaders/feature-tests/$file: update $0"
	done <<<"$probes"
}

# stage copies the module's ggml tree into the build folder (once per module
# version; timestamps are kept so rebuilds stay incremental) and adds what the
# module zip drops.
stage="$BUILD_ROOT/ggml-src"
stage_ggml() {
	local stamp="$stage/.xraygpt-staged-from" want
	want="$ggml_src probes-v1"
	if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
		return
	fi
	say "staging $ggml_src -> $stage"
	rm -rf "$stage" "$stage.tmp"
	mkdir -p "$BUILD_ROOT"
	cp -R --preserve=timestamps "$ggml_src" "$stage.tmp" 2>/dev/null || cp -Rp "$ggml_src" "$stage.tmp"
	chmod -R u+w "$stage.tmp"
	local ft="$stage.tmp/src/ggml-vulkan/vulkan-shaders/feature-tests"
	if [ -d "$ggml_src/src/ggml-vulkan/vulkan-shaders/feature-tests" ]; then
		say "the module ships vulkan-shaders/feature-tests/ now: using its probes"
	else
		mkdir -p "$ft"
		local line
		while IFS= read -r line; do
			write_probe "$ft/${line%%:*}" "${line#*:}"
			touch -r "$ggml_src/src/ggml-vulkan/CMakeLists.txt" "$ft/${line%%:*}"
		done <<<"$probes"
	fi
	echo "$want" >"$stage.tmp/.xraygpt-staged-from"
	mv "$stage.tmp" "$stage"
}

# check_probe_results compares the configure log with what glslc says about
# each probe, so a probe that did not run (or ran on a missing file) is caught.
check_probe_results() {
	local log=$1 line file ext tmp verdict
	tmp=$(mktemp -d)
	while IFS= read -r line; do
		file=${line%%:*} ext=${line#*:}
		write_probe "$tmp/$file" "$ext"
		if glslc -o /dev/null -fshader-stage=compute --target-env=vulkan1.3 "$tmp/$file" 2>"$tmp/err" ||
			! grep -q "extension not supported: $ext" "$tmp/err"; then
			verdict="$ext supported by glslc"
		else
			verdict="$ext not supported by glslc"
		fi
		# A fresh configure prints the verdict; a cached one must agree too.
		if grep -q -- "-- $ext .*supported by glslc" "$log"; then
			grep -q -- "-- $verdict\$" "$log" || {
				rm -rf "$tmp"
				die "CMake's probe for $ext disagrees with glslc (want: $verdict); see $log"
			}
		else
			rm -rf "$tmp"
			die "CMake did not probe $ext (see $log): has ggml-vulkan/CMakeLists.txt changed?"
		fi
		say "probe: $verdict"
	done <<<"$probes"
	rm -rf "$tmp"
}

if [ "$backend" = vulkan ]; then
	check_probe_shape
fi
stage_ggml

bdir="$BUILD_ROOT/$backend"
mkdir -p "$bdir"
gen=()
if command -v ninja >/dev/null 2>&1 && [ ! -f "$bdir/Makefile" ]; then
	gen=(-G Ninja)
fi
args=(-S "$repo/build/ggml" -B "$bdir" "${gen[@]}"
	-DCMAKE_BUILD_TYPE=Release
	-DGGML_SRC_DIR="$stage"
	-DXRAYGPT_BACKENDS="$backend")
if [ "$backend" = cuda ]; then
	args+=(-DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCHITECTURES:-native}" "-DCMAKE_CUDA_FLAGS=-t 2")
fi
# shellcheck disable=SC2206
args+=(${CMAKE_ARGS:-})

say "configuring $bdir"
# Probes run at configure time: configure from scratch so the log holds them.
rm -f "$bdir/CMakeCache.txt"
if ! cmake "${args[@]}" 2>&1 | tee "$bdir/configure.log"; then
	die "CMake configure failed (log: $bdir/configure.log)"
fi
if [ "$backend" = vulkan ]; then
	check_probe_results "$bdir/configure.log"
fi

say "building ggml-$backend with $JOBS jobs"
start=$(date +%s)
cmake --build "$bdir" --target "ggml-$backend" -j "$JOBS"
say "built in $(($(date +%s) - start)) s"

# Install: the plugin under the name ggml's loader looks for
# (libggml-<name>.so) and libggml-base under the SONAME the plugin needs.
plugin="$bdir/lib/libggml-$backend.so"
[ -f "$plugin" ] || die "build finished but $plugin is missing"
base_soname=$(objdump -p "$plugin" | awk '$1 == "NEEDED" && $2 ~ /^libggml-base/ { print $2 }')
[ -n "$base_soname" ] || die "$plugin does not link libggml-base: unexpected build layout"
base="$bdir/lib/$base_soname"
[ -f "$base" ] || die "$base missing"
runpath=$(objdump -p "$plugin" | awk '$1 == "RUNPATH" { print $2 }')
case "$runpath" in
*'$ORIGIN'*) ;;
*) die "$plugin has RUNPATH '$runpath', want \$ORIGIN:\$ORIGIN/.." ;;
esac

mkdir -p "$LIB_DIR"
install_file() { # src dst: copy through a temporary name, then rename
	cp -L "$1" "$2.tmp.$$"
	chmod 0755 "$2.tmp.$$"
	mv -f "$2.tmp.$$" "$2"
}
install_file "$base" "$LIB_DIR/$base_soname"
install_file "$plugin" "$LIB_DIR/libggml-$backend.so"
say "installed $LIB_DIR/libggml-$backend.so and $LIB_DIR/$base_soname (RUNPATH $runpath)"
