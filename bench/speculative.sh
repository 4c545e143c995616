#!/usr/bin/env bash
# Speculative decoding on the demo model: generation tok/s with and without
# draft tokens, in one run.
#
#   bench/speculative.sh [DRAFT] [REPEATS] [THREADS]
#
# Runs engine's BenchmarkSpeculative: the demo model summarizes the shared
# IU X-rays (../shared/data/iu_xray_samples: pairs.jsonl maps each image to
# its report) greedily, each through a one-slot scheduler, without drafts
# and with up to DRAFT (default 6) draft tokens per step drawn from the
# conversation and from reports.jsonl less the item's own report (same uid
# or same text); REPEATS (default 5) passes over the images, both ways
# interleaved, THREADS (default 1) language-model threads. The texts must
# be identical. Prints the CPU, the command, generation tok/s both ways,
# their ratio and the drafts accepted of those proposed, for each of 3 runs
# (compare the median).
set -euo pipefail
cd "$(dirname "$0")/.."
draft=${1:-6}; reps=${2:-5}; threads=${3:-1}
eval "$(make -s env)"
cmd=(go test ./engine/ -run '^$' -bench '^BenchmarkSpeculative$' -benchtime "${reps}x" -count 3 -engine.draft "$draft" -engine.threads "$threads")
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//') ($(nproc) cores)"
echo "command: ${cmd[*]}"
"${cmd[@]}" 2>&1 | awk '
	/^BenchmarkSpeculative/ {
		for (i = 1; i < NF; i++) m[$(i + 1)] = $i
		printf "without drafts %8.0f tok/s   with --draft %s %8.0f tok/s   ratio %.2f\n", m["plain-tok/s"], "'"$draft"'", m["draft-tok/s"], m["speedup"]
	}
	/drafts: .* proposed/ { last = $0 }
	/^(FAIL|panic|---.FAIL)/ || /speculative_bench_test.go:[0-9]+: .*with drafts/ { print; bad = 1 }
	END {
		if (last != "") { sub(/^ */, "", last); sub(/^[^ ]*: /, "", last); print "last run: " last }
		exit bad
	}'
