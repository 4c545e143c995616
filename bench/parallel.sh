#!/usr/bin/env bash
# Continuous batching: batch throughput with --parallel 1, 2 and 4 in one run.
#
#   bench/parallel.sh MODEL.gguf VISION.gguf [N_TOKENS] [N_IMAGES] [PARALLEL...]
#
# Summarizes N_IMAGES (default 4) distinct chest X-rays of ../shared/data
# greedily with N_TOKENS new tokens (default 200) and --threads ${THREADS:-2},
# once per --parallel value (default 1 2 4), and reports for each: images/hour
# (the runner's own clock, model loading excluded), aggregate generation
# tok/s, the ratio of images/hour to --parallel 1's, and how many summaries
# differ from --parallel 1's. The prompt-decoding rate of the --parallel 1 run
# (positions decoded / prompt time) is the compute-bound ceiling that batched
# generation approaches on a CPU. BENCH_OUT=DIR keeps the outputs and logs.
#
# The 7B-shaped models: go run ./bench/e2e -dir DIR -q4k -make-only
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?model GGUF}; vision=${2:?vision GGUF}; n=${3:-200}; count=${4:-4}
shift $(( $# < 4 ? $# : 4 ))
parallel=("$@")
((${#parallel[@]})) || parallel=(1 2 4)
data=${XRAYGPT_DATA:-../shared/data}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/images"
i=0
for f in "$data"/xraygpt/example_test_images/*.png "$data"/iu_xray_samples/images/*.png; do
	((i < count)) || break
	cp "$f" "$work/images/$(printf %02d "$i")_$(basename "$f")"
	i=$((i + 1))
done
make -s build
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs), $(nproc) cores; -n $n, -t ${THREADS:-2}, $count images"
for p in "${parallel[@]}"; do
	bin/xraygpt batch -m "$model" --vision "$vision" --temp 0 -n "$n" -t "${THREADS:-2}" --parallel "$p" \
		-o "$work/p$p.jsonl" "$work/images" 2>"$work/p$p.log" || { cat "$work/p$p.log" >&2; exit 1; }
done
if [ -n "${BENCH_OUT:-}" ]; then mkdir -p "$BENCH_OUT" && cp "$work"/p*.jsonl "$work"/p*.log "$BENCH_OUT"/; fi
/usr/bin/python3 - "$work" "${parallel[@]}" <<'PY'
import json, re, sys
work, runs = sys.argv[1], sys.argv[2:]
base = None
for p in runs:
    rows = {r["id"]: r for r in map(json.loads, open(f"{work}/p{p}.jsonl"))}
    bad = [r["error"] for r in rows.values() if r.get("error")]
    if bad:
        sys.exit(f"--parallel {p}: failed images: {bad}")
    wall = float(re.search(r"done: .* in ([0-9.]+)s ", open(f"{work}/p{p}.log").read()).group(1))
    gen = sum(r["timings"]["generated_tokens"] for r in rows.values())
    ptoks = sum(r["timings"]["prompt_tokens"] for r in rows.values())
    pms = sum(r["timings"]["prompt_ms"] for r in rows.values())
    iph = len(rows) / wall * 3600
    line = f"--parallel {p}: {len(rows)} images in {wall:.1f} s = {iph:.0f} images/hour, generation {gen / wall:.2f} tok/s aggregate"
    if base is None:
        base = (iph, {k: r["summary"] for k, r in rows.items()})
        line += f"; prompt decoding {ptoks / (pms / 1000):.2f} tok/s ({ptoks} positions)"
    else:
        differ = sum(1 for k, r in rows.items() if r["summary"] != base[1].get(k))
        line += f"; {iph / base[0]:.3f}x --parallel {runs[0]}; {differ} of {len(rows)} summaries differ from it"
    print(line)
PY
