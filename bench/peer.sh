#!/usr/bin/env bash
# Prompt and generation speed of our llama binding against llama.cpp's
# release build on the same GGUF, in one run.
#
#   bench/peer.sh MODEL.gguf [N_PROMPT] [N_GEN] [THREADS]
#
# The peer is the prebuilt llama.cpp that node-llama-cpp@3.22.1 ships (one
# ggml CPU library per x86 level; it loads the best one for this CPU). npm
# installs it into a scratch folder, PEER_DIR (default
# ~/.cache/xraygpt-bench/node-llama-cpp), reused by later runs: a benchmark
# tool only, never a dependency of the program. It is used with gpu: false
# and build: "never", so it runs its prebuilt CPU binary or fails; it never
# builds or downloads llama.cpp.
#
# Both sides load MODEL memory-mapped, with a context of N_CTX positions
# (default 2048), batches of N_BATCH (512), THREADS threads (default 2) for
# the prompt and for generation and flash attention FLASH (auto, on or off;
# default auto, llama.cpp's choice, as the CLI leaves it), CPU only. They
# decode the same N_PROMPT token ids (default 164: BOS and random ordinary
# tokens, written by bench/llamatime) as one prompt, sample greedily, then
# decode N_GEN tokens (default 100) one at a time, each the greedy choice of
# the previous decode. Ours is bench/llamatime (Context.Decode and
# Sampler.Sample), the peer bench/peer_time.mjs (LlamaContextSequence's
# evaluate). The page cache is warmed with one read of MODEL first, so that
# neither side pays for reading it from disk.
#
# Prints the CPU, both commands, their JSON results and one table with
# ours/peer ratios of speed (tok/s; for the load, peer time / our time).
# Load is the time from nothing to a context ready to decode; the peer's
# includes getLlama (loading its binary and probing the CPU). Run it on a quiet machine: with 2 cores, any other load
# slows the spinning ggml threads of either side by far more than it uses.
set -euo pipefail
usage() { echo "usage: bench/peer.sh MODEL.gguf [N_PROMPT] [N_GEN] [THREADS]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 4 ] || usage
model=$1; n_prompt=${2:-164}; n_gen=${3:-100}; threads=${4:-2}
n_ctx=${N_CTX:-2048}; n_batch=${N_BATCH:-512}; flash=${FLASH:-auto}
for v in "n_prompt=$n_prompt" "n_gen=$n_gen" "threads=$threads" "N_CTX=$n_ctx" "N_BATCH=$n_batch"; do
	[[ ${v#*=} =~ ^[1-9][0-9]*$ ]] || { echo "peer.sh: ${v%%=*} must be a positive integer, not '${v#*=}'" >&2; exit 2; }
done
case $flash in auto | on | off) ;; *) echo "peer.sh: FLASH must be auto, on or off, not '$flash'" >&2; exit 2 ;; esac
if [ ! -e "$model" ]; then echo "peer.sh: $model: no such file" >&2; exit 1; fi
if [ ! -f "$model" ] || [ ! -r "$model" ]; then echo "peer.sh: $model: not a readable regular file" >&2; exit 1; fi
model=$(realpath "$model")
command -v node >/dev/null && command -v npm >/dev/null || { echo "peer.sh: needs node (>= 20) and npm" >&2; exit 1; }
cd "$(dirname "$0")/.."
. bench/peer_install.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

install_peer

# Ours, built with the repository's llama.cpp flags.
eval "$(make -s env)"
go build -o "$work/llamatime" ./bench/llamatime

cat "$model" >/dev/null # warm the page cache for both
ours=("$work/llamatime" -m "$model" -p "$n_prompt" -n "$n_gen" -t "$threads" -c "$n_ctx" -b "$n_batch" -flash "$flash" -tokens "$work/tokens.json")
peer=(node bench/peer_time.mjs "$model" "$work/tokens.json" "$n_gen" "$threads" "$n_ctx" "$n_batch" "$flash")
"${ours[@]}" >"$work/ours.json"
NODE_LLAMA_CPP_SKIP_DOWNLOAD=true "${peer[@]}" >"$work/peer.json"

echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(nproc) cores"
echo "ours: go build -o llamatime ./bench/llamatime && llamatime ${ours[*]:1}"
echo "peer: PEER_DIR=$PEER_DIR ${peer[*]}"
echo "ours: $(cat "$work/ours.json")"
echo "peer: $(cat "$work/peer.json")"
node - "$work/ours.json" "$work/peer.json" "$threads" <<'JS'
const fs = require("fs");
const [o, p] = process.argv.slice(2, 4).map((f) => JSON.parse(fs.readFileSync(f, "utf8")));
const threads = Number(process.argv[4]);
if (p.threads !== threads) console.log(`warning: the peer ran with ${p.threads} threads, not ${threads}`);
const f = (x, d = 3) => x.toFixed(d);
console.log(`\nsettings: ${o.prompt_tokens} prompt positions, ${o.gen_tokens} generated tokens (greedy), ${threads} threads, ` +
	`n_ctx ${o.n_ctx}, n_batch ${o.n_batch}, flash attention ${o.flash_attention}, CPU only\n`);
console.log(`| | ours (${o.impl}) | ${p.impl} (${p.cpu_variant}) | ours/peer, speed |`);
console.log("|---|---|---|---|");
console.log(`| load | ${f(o.load_s)} s | ${f(p.load_s)} s | ${f(p.load_s / o.load_s)} |`);
console.log(`| prompt, ${o.prompt_tokens} positions | ${f(o.prompt_s)} s = ${f(o.prompt_tok_s, 1)} tok/s | ` +
	`${f(p.prompt_s)} s = ${f(p.prompt_tok_s, 1)} tok/s | ${f(o.prompt_tok_s / p.prompt_tok_s)} |`);
console.log(`| generation, ${o.gen_tokens} tokens | ${f(o.gen_s)} s = ${f(o.gen_tok_s, 1)} tok/s | ` +
	`${f(p.gen_s)} s = ${f(p.gen_tok_s, 1)} tok/s | ${f(o.gen_tok_s / p.gen_tok_s)} |`);
JS
