#!/usr/bin/env bash
# Go vision encoders against PyTorch 1.13 in one run, for each OpenBLAS
# kernel setting (unset, Haswell, SkylakeX): compare like with like.
#
#   bench/vision_compare.sh [xraygpt|swin]   (default xraygpt)
#
# Go: go test -bench in vision/ (packed: linalg's AVX-512 kernel for EVA's
# products, the rest through OpenBLAS; native: everything through OpenBLAS).
# PyTorch: bench/vision_torch.py at its fastest thread setting (1 intra-op
# thread, OpenBLAS on 2), min and median of 3 runs.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-xraygpt}
case $model in
xraygpt) bench='XrayGPT/(packed|native)$' ;;
swin) bench='SwinTiny/native$' ;;
*) echo "usage: $0 [xraygpt|swin]" >&2; exit 2 ;;
esac
test=$(mktemp)
trap 'rm -f "$test"' EXIT
go test -c -o "$test" ./vision/
for ct in unset Haswell SkylakeX; do
	if [ "$ct" = unset ]; then run=(env -u OPENBLAS_CORETYPE); else run=(env OPENBLAS_CORETYPE="$ct"); fi
	echo "=== OPENBLAS_CORETYPE=$ct: Go"
	(cd vision && "${run[@]}" "$test" -test.run '^$' -test.bench "$bench" -test.benchtime 3x | grep -E '^Benchmark')
	echo "=== OPENBLAS_CORETYPE=$ct: PyTorch"
	"${run[@]}" OPENBLAS_NUM_THREADS=2 /usr/bin/python3 bench/vision_torch.py --threads 1 --models "$model" --repeat 3 | tail -1
done
