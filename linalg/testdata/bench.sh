#!/bin/sh
# Runs linalg's GEMM benchmarks once per OpenBLAS kernel choice: with
# OPENBLAS_CORETYPE as the environment has it, with it unset (OpenBLAS detects
# the CPU), and with each core type named as an argument.
#
#   sh linalg/testdata/bench.sh [-benchtime=5x] [-- SkylakeX ...]
#
# Output is go test's benchmark format (one block per setting, labelled), fit
# for benchstat.
set -eu
benchtime=${1:--benchtime=5x}
[ $# -gt 0 ] && shift
[ "${1:-}" = "--" ] && shift
bin=$(mktemp -d)/linalg.test
trap 'rm -rf "$(dirname "$bin")"' EXIT
cd "$(dirname "$0")/.."
go test -c -o "$bin" .
run() {
	echo "# OPENBLAS_CORETYPE=$1"
	shift
	"$@" "$bin" -test.run='^$' -test.bench='^BenchmarkSgemm$' "-test.${benchtime#-}" 2>&1 | grep -E '^(Benchmark|cpu:)'
}
run "${OPENBLAS_CORETYPE:-<unset>} (as set)" env
run "<unset>" env -u OPENBLAS_CORETYPE
for ct in "$@"; do
	run "$ct" env OPENBLAS_CORETYPE="$ct"
done
