#!/usr/bin/env bash
# One summary, the way a laptop runs it, against llama.cpp's release build
# on the same GGUF, in one run.
#
#   bench/oneshot.sh MODEL.gguf VISION.gguf IMAGE [THREADS]
#
# Ours is the whole command a user types:
#   xraygpt summarize -m MODEL --vision VISION --temp 0 -n 100 -t THREADS -v IMAGE
# run twice with a scratch --prompt-cache folder: "cold" decodes XrayGPT's
# system prompt and writes the cache, "warm" reads it (every later summary
# on the machine). Its one-line timings (stderr) give load, vision, the
# prompt positions decoded and generation; /usr/bin/time gives peak RSS.
#
# The peer is node-llama-cpp@3.22.1's prebuilt llama.cpp (bench/peer_time.mjs,
# installed by bench/peer_install.sh): the full prompt of the same length
# (PROMPT positions, default 164: XrayGPT's prompt with 32 image rows and
# the bench model's vocabulary) as one batch, then 100 greedy tokens, same
# threads, context 2048, batches of 512, CPU only.
#
# The acceptance figure is ours/peer of prompt + generation time (the prompt
# cache has to make up for what the peer decodes faster). Run it on a quiet
# machine: with 2 cores, any other load slows the spinning ggml threads of
# either side by far more than it uses.
set -euo pipefail
usage() { echo "usage: bench/oneshot.sh MODEL.gguf VISION.gguf IMAGE [THREADS]" >&2; exit 2; }
[ $# -ge 3 ] && [ $# -le 4 ] || usage
model=$1; vision=$2; image=$3; threads=${4:-2}; n_gen=100; n_prompt=${PROMPT:-164}
for f in "$model" "$vision" "$image"; do
	[ -f "$f" ] && [ -r "$f" ] || { echo "oneshot.sh: $f: not a readable regular file" >&2; exit 1; }
done
[[ $threads =~ ^[1-9][0-9]*$ ]] || { echo "oneshot.sh: THREADS must be a positive integer, not '$threads'" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "oneshot.sh: needs /usr/bin/time (apt install time) for the peak RSS" >&2; exit 1; }
model=$(realpath "$model"); vision=$(realpath "$vision"); image=$(realpath "$image")
cd "$(dirname "$0")/.."
. bench/peer_install.sh
install_peer

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
eval "$(make -s env)"
go build -o "$work/xraygpt" ./cmd/xraygpt
cat "$model" "$vision" >/dev/null # warm the page cache for both

ours=(summarize -m "$model" --vision "$vision" --temp 0 -n "$n_gen" -t "$threads" -v --prompt-cache "$work/cache" "$image")
for run in cold warm; do
	/usr/bin/time -f "peak_rss_kb %M" "$work/xraygpt" "${ours[@]}" >/dev/null 2>"$work/$run.err" ||
		{ cat "$work/$run.err" >&2; exit 1; }
done

# The peer's prompt: BOS and ordinary tokens of LLaMA's vocabulary.
node -e 'const n = Number(process.argv[1]); console.log(JSON.stringify([1, ...Array.from({length: n - 1}, (_, i) => 1000 + i)]))' \
	"$n_prompt" >"$work/tokens.json"
peer=(node bench/peer_time.mjs "$model" "$work/tokens.json" "$n_gen" "$threads" 2048 512 auto)
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true /usr/bin/time -f "peak_rss_kb %M" "${peer[@]}" >"$work/peer.json" 2>"$work/peer.err" ||
	{ cat "$work/peer.err" >&2; exit 1; }

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //') (family $(grep -m1 'cpu family' /proc/cpuinfo | sed 's/.*: //'), model $(grep -m1 '^model\s' /proc/cpuinfo | sed 's/.*: //')), $(nproc) cores"
echo "ours: xraygpt ${ours[*]}"
echo "peer: PEER_DIR=$PEER_DIR ${peer[*]}"
node - "$work/cold.err" "$work/warm.err" "$work/peer.json" "$work/peer.err" "$n_gen" <<'JS'
const fs = require("fs");
const [coldErr, warmErr, peerJSON, peerErr, nGen] = process.argv.slice(2);
const dur = (s) => { // "1m2.5s", "950ms", "3.2s"
	let t = 0;
	for (const [, v, u] of s.matchAll(/([\d.]+)(ms|µs|m|s)/g)) t += Number(v) * { ms: 1e-3, "µs": 1e-6, m: 60, s: 1 }[u];
	return t;
};
const rss = (file) => Number(fs.readFileSync(file, "utf8").match(/peak_rss_kb (\d+)/)[1]) * 1024;
const ours = (file) => {
	const text = fs.readFileSync(file, "utf8");
	const m = text.match(/timings: load (\S+), vision (\S+), prompt (\d+) tokens in (\S+) \([^)]*\), generation (\d+) tokens in (\S+) \([^)]*\), (\d+) prompt positions from the cache/);
	if (!m) throw new Error(`no timings line in ${file}`);
	return { load: dur(m[1]), vision: dur(m[2]), promptN: +m[3], prompt: dur(m[4]), genN: +m[5], gen: dur(m[6]), cached: +m[7], rss: rss(file) };
};
const runs = { cold: ours(coldErr), warm: ours(warmErr) };
const p = JSON.parse(fs.readFileSync(peerJSON, "utf8"));
const f = (x, d = 2) => x.toFixed(d);
const gib = (b) => `${f(b / 2 ** 30)} GiB`;
console.log(`\n| | ours, cold prompt cache | ours, warm prompt cache | ${p.impl} (${p.cpu_variant}) |`);
console.log("|---|---|---|---|");
const row = (name, fo, fp) => console.log(`| ${name} | ${fo(runs.cold)} | ${fo(runs.warm)} | ${fp} |`);
row("load", (o) => `${f(o.load)} s`, `${f(p.load_s)} s`);
row("vision", (o) => `${f(o.vision)} s`, "");
row("prompt", (o) => `${o.promptN} positions (+${o.cached} cached) in ${f(o.prompt)} s = ${f(o.promptN / o.prompt, 1)} tok/s`,
	`${p.prompt_tokens} positions in ${f(p.prompt_s)} s = ${f(p.prompt_tok_s, 1)} tok/s`);
row("generation", (o) => `${o.genN} tokens in ${f(o.gen)} s = ${f(o.genN / o.gen, 1)} tok/s`,
	`${p.gen_tokens} tokens in ${f(p.gen_s)} s = ${f(p.gen_tok_s, 1)} tok/s`);
// Ours may stop before 100 tokens (end of the answer): its generation time
// is scaled to 100 tokens at its own speed.
const total = (o) => o.prompt + o.gen * (Number(nGen) / o.genN);
row(`prompt + ${nGen} tokens`, (o) => `${f(total(o))} s`, `${f(p.prompt_s + p.gen_s)} s`);
row("peak RSS", (o) => gib(o.rss), gib(rss(peerErr)));
const peerTotal = p.prompt_s + p.gen_s;
console.log(`\nours/peer, prompt + generation time: cold ${f(total(runs.cold) / peerTotal, 3)}, warm ${f(total(runs.warm) / peerTotal, 3)} (<= 1 is the goal)`);
console.log(`ours/peer, generation tok/s: ${f((runs.warm.genN / runs.warm.gen) / p.gen_tok_s, 3)}; prompt tok/s (positions decoded): ${f((runs.warm.promptN / runs.warm.prompt) / p.prompt_tok_s, 3)}`);
JS
