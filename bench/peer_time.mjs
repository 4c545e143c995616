// peer_time.mjs times prompt processing and greedy generation on a GGUF file
// through node-llama-cpp's prebuilt llama.cpp (CPU only), the same
// measurement as bench/llamatime, for bench/peer.sh:
//
//   NODE_PATH=SCRATCH/node_modules node bench/peer_time.mjs MODEL TOKENS.json N_GEN THREADS N_CTX N_BATCH FLASH
//
// TOKENS.json is the prompt that llamatime wrote (-tokens). It decodes the
// prompt on one sequence, samples greedily, then decodes N_GEN more tokens
// one at a time, each sampled greedily from the previous decode (the
// end-of-generation token does not stop it). It never builds or downloads
// llama.cpp: it uses the prebuilt binary of the platform package or fails.
// The result is one JSON object on standard output, with the ggml CPU
// variant the prebuilt binary loaded (read from /proc/self/maps).
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [modelPath, tokensPath, nGenArg, threadsArg, nCtxArg, nBatchArg, flashArg] = process.argv.slice(2);
if (flashArg === undefined) {
	console.error("usage: node peer_time.mjs MODEL TOKENS.json N_GEN THREADS N_CTX N_BATCH auto|on|off");
	process.exit(2);
}
const [nGen, threads, nCtx, nBatch] = [nGenArg, threadsArg, nCtxArg, nBatchArg].map(Number);
const flash = { auto: "auto", on: true, off: false }[flashArg];
const prompt = JSON.parse(fs.readFileSync(tokensPath, "utf8"));

// node-llama-cpp lives in the scratch folder of peer.sh, not in this
// repository; resolve it from there.
const require = createRequire(path.join(process.env.PEER_DIR, "node_modules", "x.js"));
const { getLlama } = await import(require.resolve("node-llama-cpp"));
const pkg = JSON.parse(fs.readFileSync(path.join(process.env.PEER_DIR, "node_modules", "node-llama-cpp", "package.json"), "utf8"));

const t0 = performance.now();
const llama = await getLlama({
	gpu: false, // CPU only
	build: "never", // a prebuilt binary or an error, never a build from source
	skipDownload: true, // never fetch llama.cpp's sources
	usePrebuiltBinaries: true,
	progressLogs: false,
	maxThreads: 0, // no cap: the context's thread count is the one used
	logLevel: "error",
});
const model = await llama.loadModel({ modelPath, gpuLayers: 0, useMmap: true, ignoreMemorySafetyChecks: true });
const context = await model.createContext({
	contextSize: nCtx,
	batchSize: nBatch,
	threads: { ideal: threads, min: threads },
	flashAttention: flash,
	sequences: 1,
	ignoreMemorySafetyChecks: true,
});
const sequence = context.getSequence();
const loadS = (performance.now() - t0) / 1000;

// evaluate() decodes its input and yields the greedy token (temperature 0);
// each next() decodes the token it yielded last and yields the next one.
const gen = sequence.evaluate(prompt, { temperature: 0, yieldEogToken: true });
let t = performance.now();
let step = await gen.next();
if (step.done) throw new Error("no token after the prompt");
const promptS = (performance.now() - t) / 1000;
t = performance.now();
for (let i = 0; i < nGen; i++) {
	step = await gen.next();
	if (step.done) throw new Error(`generation stopped after ${i} tokens`);
}
const genS = (performance.now() - t) / 1000;
if (sequence.nextTokenIndex !== prompt.length + nGen)
	throw new Error(`decoded ${sequence.nextTokenIndex} positions, want ${prompt.length + nGen}`);
await gen.return();

const maps = fs.readFileSync("/proc/self/maps", "utf8");
const variant = [...new Set(maps.match(/libggml-cpu-[\w-]+\.so/g) ?? [])].join(",");
console.log(JSON.stringify({
	impl: `node-llama-cpp ${pkg.version}`,
	cpu_variant: variant || "unknown",
	model: modelPath,
	threads: context.currentThreads,
	n_ctx: context.contextSize,
	n_batch: context.batchSize,
	flash_attention: flashArg,
	load_s: loadS,
	prompt_tokens: prompt.length,
	prompt_s: promptS,
	prompt_tok_s: prompt.length / promptS,
	gen_tokens: nGen,
	gen_s: genS,
	gen_tok_s: nGen / genS,
}));
await context.dispose();
await model.dispose();
await llama.dispose();
