#!/usr/bin/env bash
# Batch throughput with and without the vision/LLM overlap, in one run.
#
#   bench/batch.sh MODEL.gguf VISION.gguf [N_TOKENS] [N_IMAGES]
#
# Summarizes the 14 distinct chest X-rays of ../shared/data (the image cache
# would hide the vision time of repeated images) with --queue 0 (vision then
# LLM, one image at a time) and --queue 2 (vision of the next images while
# the LLM writes), greedy, N_TOKENS new tokens (default 32), on the first
# N_IMAGES images (default all 14). Reports
# images/hour for both and the overlapped throughput against the ideal
# 1 / (LLM time per image), from the per-image timings in the JSONL output.
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
for q in 0 2; do
	bin/xraygpt batch -m "$model" --vision "$vision" --temp 0 -n "$n" --queue "$q" -o "$work/q$q.jsonl" "$work/images" 2>"$work/q$q.log" || true
	/usr/bin/python3 - "$work/q$q.jsonl" "$work/q$q.log" "$q" <<'PY'
import json, re, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
# The runner's own clock (model loading and checksums excluded): "done: ... in 12.3s (...)".
wall = float(re.search(r"done: .* in ([0-9.]+)s ", open(sys.argv[2]).read()).group(1))
ok = [r for r in rows if not r.get("error")]
llm = sum(r["timings"]["prompt_ms"] + r["timings"]["generate_ms"] for r in ok) / len(ok) / 1000
vis = sum(r["timings"]["vision_ms"] for r in ok) / len(ok) / 1000
iph = len(rows) / wall * 3600
ideal = 3600 / llm
print(f"queue {sys.argv[3]}: {len(rows)} images ({len(rows)-len(ok)} failed) in {wall:.1f} s = {iph:.0f} images/hour; "
      f"vision {vis:.2f} s/image, LLM {llm:.2f} s/image; throughput / (1/LLM time) = {iph/ideal:.3f}")
PY
done
