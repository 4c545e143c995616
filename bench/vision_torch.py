#!/usr/bin/python3
"""PyTorch peer of the Go vision benchmarks (go test -bench 'XrayGPT|SwinTiny' ./vision/).

Same shapes as the Go benchmark: real-size random-weight EVA ViT-g/14 (39 blocks)
+ ln_vision + Q-Former (32 queries) + llama_proj (768 -> 4096), and Swin-Tiny +
MedCLIP's projection head, one 224x224 image, fp32, CPU, no grad. The modules are
the plain torch.nn ones of vision/testdata/gen_golden.py (written from LAVIS, HF).

Run from the repository root, in the same session as the Go benchmark, with both
OpenBLAS settings (the environment sets OPENBLAS_CORETYPE=Haswell; compare like
with like):

    /usr/bin/python3 bench/vision_torch.py --threads 1,2
    env -u OPENBLAS_CORETYPE /usr/bin/python3 bench/vision_torch.py --threads 1,2

torch.set_num_threads(n) sets PyTorch's intra-op threads; OpenBLAS keeps its own
pool (OPENBLAS_NUM_THREADS, default all cores).
"""
import argparse
import importlib.util
import os
import resource
import statistics
import time

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location(
    "gen_golden", os.path.join(HERE, "..", "vision", "testdata", "gen_golden.py"))
g = importlib.util.module_from_spec(spec)
spec.loader.exec_module(g)


def rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0


def build(which):
    torch.manual_seed(0)
    if which == "xraygpt":
        eva = g.EVAViT(224, 14, 1408, 39, 16, 4.3637)
        blip = g.BLIP2(vis_dim=1408, nq=32, dim=768, heads=12, ff=3072, depth=12, freq=2)
        proj = nn.Linear(768, 4096)
        mods = [eva, blip, proj]
        for m in mods:
            for p in m.parameters():
                nn.init.normal_(p, std=0.02)
            m.eval()

        def encoder(x):
            h = eva.embed(x)
            for b in eva.blocks:
                h = b(h)
            return h

        def rest(h):
            v = blip.ln_vision(h)
            q = blip.Qformer.bert(blip.query_tokens, v)
            return proj(q)

        return mods, encoder, rest, torch.randn(1, 3, 224, 224)
    swin = g.SwinModel(224, 4, 96, (2, 2, 6, 2), (3, 6, 12, 24), 7)
    vis = g.MedCLIPVision(swin, 512)
    for p in vis.parameters():
        nn.init.normal_(p, std=0.02)
    vis.eval()

    def encoder(x):
        x = x.repeat((1, 3, 1, 1))
        e = swin.embeddings.patch_embeddings.projection(x).flatten(2).transpose(1, 2)
        h = swin.embeddings.norm(e)
        for stage in swin.encoder.layers:
            for blk in stage.blocks:
                h = blk(h)
            if hasattr(stage, "downsample"):
                h = stage.downsample(h)
        return h

    def rest(h):
        last = swin.layernorm(h)
        return last, vis.projection_head(last.mean(dim=1))

    return [vis], encoder, rest, torch.randn(1, 1, 224, 224)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", default="1,2", help="comma-separated torch.set_num_threads values")
    ap.add_argument("--models", default="xraygpt,swin")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    print("torch", torch.__version__, "OPENBLAS_CORETYPE=%r" % os.environ.get("OPENBLAS_CORETYPE"),
          "OPENBLAS_NUM_THREADS=%r" % os.environ.get("OPENBLAS_NUM_THREADS"))
    for which in args.models.split(","):
        mods, encoder, rest, x = build(which)
        nparam = sum(p.numel() for m in mods for p in m.parameters())
        for nt in [int(t) for t in args.threads.split(",")]:
            torch.set_num_threads(nt)
            enc_t, tot_t = [], []
            with torch.no_grad():
                rest(encoder(x))  # warm-up
                ru0 = resource.getrusage(resource.RUSAGE_SELF)
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    h = encoder(x)
                    t1 = time.perf_counter()
                    rest(h)
                    t2 = time.perf_counter()
                    enc_t.append(t1 - t0)
                    tot_t.append(t2 - t0)
                ru1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = (ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime) / args.repeat
            faults = (ru1.ru_minflt + ru1.ru_majflt - ru0.ru_minflt - ru0.ru_majflt) / args.repeat
            print("%-8s threads=%d  params=%.1fM  total min %.1f ms median %.1f ms  encoder min %.1f ms  "
                  "cpu %.1f ms/image  faults %.0f/image  peakRSS %.0f MiB"
                  % (which, nt, nparam / 1e6, 1e3 * min(tot_t), 1e3 * statistics.median(tot_t),
                     1e3 * min(enc_t), 1e3 * cpu, faults, rss_mib()))


if __name__ == "__main__":
    main()
