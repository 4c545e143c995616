#!/usr/bin/env bash
# Batch throughput with and without the vision/LLM overlap, in one run.
#
#   bench/batch.sh MODEL.gguf VISION.gguf [N_TOKENS] [N_IMAGES]
#
# Summarizes the 14 distinct chest X-rays of ../shared/data (the image cache
# would hide the vision time of repeated images) with --queue 0 (vision then
# LLM, one image at a time) and --queue 2 (vision of the next images while
# the LLM writes), greedy, N_TOKENS new tokens (default 32), on the first
# N_IMAGES images (default all 14). Reports images/hour for both and each
# throughput against the ideal 1 / (LLM time per image), the LLM time being
# the one measured in the --queue 0 run, where nothing runs beside the LLM
# (per-image prompt + generation timings in the JSONL output); for the
# overlapped run also without the pipeline's fill (the first image's vision,
# which nothing can overlap).
#
# THREADS and VISION_THREADS (environment) set --threads and
# --vision-threads; e.g. THREADS=1 VISION_THREADS=1 on 2 cores leaves the
# vision stage a core of its own, as a GPU-offloaded language model does.
# BENCH_OUT=DIR keeps the JSONL outputs and logs.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:?model GGUF}; vision=${2:?vision GGUF}; n=${3:-32}; count=${4:-14}
data=${XRAYGPT_DATA:-../shared/data}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/images"
cp "$data"/xraygpt/example_test_images/*.png "$work/images/"
for f in "$data"/iu_xray_samples/images/*.png; do cp "$f" "$work/images/iu_$(basename "$f")"; done
ls "$work/images" | sort | tail -n +"$((count + 1))" | while read -r f; do rm "$work/images/$f"; done
make -s build
threads=()
[ -n "${THREADS:-}" ] && threads+=(--threads "$THREADS")
[ -n "${VISION_THREADS:-}" ] && threads+=(--vision-threads "$VISION_THREADS")
echo "settings: -n $n, ${threads[*]:-default threads}, $(nproc) cores"
for q in 0 2; do
	bin/xraygpt batch -m "$model" --vision "$vision" --temp 0 -n "$n" --queue "$q" ${threads[@]+"${threads[@]}"} -o "$work/q$q.jsonl" "$work/images" 2>"$work/q$q.log" || true
done
if [ -n "${BENCH_OUT:-}" ]; then mkdir -p "$BENCH_OUT" && cp "$work"/q*.jsonl "$work"/q*.log "$BENCH_OUT"/; fi
/usr/bin/python3 - "$work" <<'PY'
import json, re, sys
work = sys.argv[1]
def llm(r):
    return (r["timings"]["prompt_ms"] + r["timings"]["generate_ms"]) / 1000
def mean(xs):
    return sum(xs) / len(xs)
alone = None
for q in (0, 2):
    rows = [json.loads(l) for l in open(f"{work}/q{q}.jsonl")]
    if any(r.get("error") for r in rows):
        sys.exit(f"queue {q}: failed images: {[r['error'] for r in rows if r.get('error')]}")
    # The runner's own clock (model loading and checksums excluded): "done: ... in 12.3s (...)".
    wall = float(re.search(r"done: .* in ([0-9.]+)s ", open(f"{work}/q{q}.log").read()).group(1))
    llms = [llm(r) for r in rows]
    alone = alone or mean(llms)
    line = (f"queue {q}: {len(rows)} images in {wall:.1f} s = {len(rows) / wall * 3600:.0f} images/hour; "
            f"vision {mean([r['timings']['vision_ms'] for r in rows]) / 1000:.2f} s/image, LLM {mean(llms):.2f} s/image; "
            f"throughput / (1/LLM time alone) = {len(rows) * alone / wall:.3f}")
    if q:
        # The first image's vision is the pipeline's fill: nothing can
        # overlap it, and it weighs 1/N of the run.
        line += f" ({len(rows) * alone / (wall - rows[0]['timings']['vision_ms'] / 1000):.3f} without the fill)"
    print(line)
PY
