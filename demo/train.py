#!/usr/bin/python3
"""Train the demo model: a tiny LLaMA that writes chest X-ray reports in
XrayGPT's conversation format, with a tiny random vision model in XrayGPT's
checkpoint layout. It is a toy, not a diagnostic model.

Run from the repository root with Debian's Python (torch 1.13, numpy, PIL,
sentencepiece); demo/build.sh runs it and converts the result:

    /usr/bin/python3 demo/train.py --out demo/build

Data (read from ../shared/data, or $XRAYGPT_DATA):
  iu_xray_samples/reports.jsonl  200 IU X-ray reports (Open-i, CC BY-NC-ND 4.0): the answers
  xraygpt/prompts/alignment.txt  XrayGPT's 15 instructions: the questions
  xraygpt/example_test_images/   XrayGPT's 9 demo X-rays, and the 5 IU images: soft tokens
The 200 reports come without images, so the model cannot learn to read an image: each
training conversation gets the soft tokens of a random one of the 14 X-rays (or its mirror
image), and the model learns to write a plausible report whatever the image.

Writes into --out:
  hf/              Hugging Face LLaMA folder (fp16 pytorch_model.bin, tokenizer.model, ...)
  vision/          eva_vit_g.pth, blip2_pretrained_flant5xxl.pth, xraygpt_checkpoint.pth
  train_log.json   shapes, steps, losses, time, a greedy sample
"""
import argparse
import glob
import json
import math
import os
import random
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.environ.get("XRAYGPT_DATA", os.path.join(ROOT, "..", "shared", "data"))
sys.path.insert(0, os.path.join(ROOT, "vision", "testdata"))

import gen_golden as vg  # noqa: E402  tiny EVA / Q-Former modules in the real key layout
import tinyllama as tl  # noqa: E402

CFG = tl.Config(vocab_size=1000, hidden_size=128, intermediate_size=384, num_hidden_layers=4,
                num_attention_heads=4, max_position_embeddings=1024)
# Vision: EVA at the real 224x224 input, patch 14 (257 tokens). Widths 88 and 64 give one
# head each under the converter's default rules (EVA width/88, Q-Former width/64). 8 query
# tokens instead of XrayGPT's 32 keep the training sequences short on 2 shared CPU cores.
IMG, PATCH, EVA_DIM, EVA_DEPTH, EVA_HEADS = 224, 14, 88, 1, 1
Q_DIM, Q_HEADS, Q_FF, Q_DEPTH, N_QUERY = 64, 1, 128, 2, 8


def load_data():
    with open(os.path.join(DATA, "xraygpt", "prompts", "alignment.txt"), encoding="utf-8") as f:
        prompts = [p.replace("<Img><ImageHere></Img>", "").strip() for p in f.read().splitlines() if p.strip()]
    answers = []
    with open(os.path.join(DATA, "iu_xray_samples", "reports.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            text = (r["report"] or "").strip()
            imp = (r["impression"] or "").strip()
            if imp and imp.lower() not in text.lower():
                text = (text + " " + imp).strip()
            if text:
                answers.append(text)
    images = sorted(glob.glob(os.path.join(DATA, "xraygpt", "example_test_images", "*.png")))
    images += sorted(glob.glob(os.path.join(DATA, "iu_xray_samples", "images", "*.png")))
    return prompts, answers, images


def build_vision(out, gen):
    eva, blip, proj = vg.xraygpt_checkpoints(os.path.join(out, "vision"), gen, IMG, PATCH, EVA_DIM, EVA_DEPTH,
                                             EVA_HEADS, Q_DIM, Q_HEADS, Q_FF, Q_DEPTH, N_QUERY, CFG.hidden_size)

    def encode(x):
        h = eva.embed(x)
        for blk in eva.blocks[:EVA_DEPTH]:
            h = blk(h)
        return proj(blip.Qformer.bert(blip.query_tokens, blip.ln_vision(h)))[0]
    return encode


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(HERE, "build"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=12)
    ap.add_argument("--lr", type=float, default=4e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    random.seed(args.seed)
    torch.manual_seed(args.seed)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()

    prompts, answers, images = load_data()
    import sentencepiece as spm
    sp_path = tl.train_tokenizer([tl.SYSTEM, "###Patient:", "###Doctor:", "<Img>", "</Img>"] + prompts + answers,
                                 CFG.vocab_size, os.path.join(args.out, "tokenizer.model"))
    sp = spm.SentencePieceProcessor(model_file=sp_path)

    encode = build_vision(args.out, torch.Generator().manual_seed(args.seed + 1))
    softs = []
    with torch.no_grad():
        for path in images:
            x = tl.preprocess(path, IMG)
            softs += [encode(x), encode(torch.flip(x, dims=[3]))]
    print("%d prompts, %d reports, %d images -> %d soft-token sets" % (len(prompts), len(answers), len(images), len(softs)))

    # Each conversation: [BOS] seg0 | soft | seg1 answer ###, loss on "answer ###" only.
    seg0_ids = [sp.bos_id()] + sp.encode(tl.prompt_segments("Q")[0])
    seg1_ids = [sp.encode(tl.prompt_segments(q)[1]) for q in prompts]
    ans_ids = [sp.encode(a + "###") for a in answers]

    model = tl.LlamaForCausalLM(CFG)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.endswith("norm.weight"):
                p.normal_(0.0, 0.02)
    nparams = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.01)
    warm = 20

    def lr_at(step):
        if step < warm:
            return args.lr * (step + 1) / warm
        return args.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * (step - warm) / (args.steps - warm))))

    losses = []
    n0, ns = len(seg0_ids), N_QUERY
    for step in range(args.steps):
        for g in opt.param_groups:
            g["lr"] = lr_at(step)
        batch = []
        for _ in range(args.batch):
            a = random.randrange(len(answers))
            batch.append((random.randrange(len(softs)), seg1_ids[random.randrange(len(prompts))] + ans_ids[a],
                          len(ans_ids[a])))
        T = n0 + ns + max(len(b[1]) for b in batch)
        embeds = torch.zeros(args.batch, T, CFG.hidden_size)
        targets = torch.full((args.batch, T), -100, dtype=torch.long)
        for i, (si, tail, nans) in enumerate(batch):
            ids = torch.tensor(seg0_ids + tail)
            e = model.embed(ids)
            soft = softs[si] * (1.0 + 0.05 * torch.randn(()))
            row = torch.cat([e[:n0], soft, e[n0:]])
            embeds[i, :row.shape[0]] = row
            end = n0 + ns + len(tail)
            # position p predicts the token at p+1: the answer tokens and ###
            targets[i, end - nans - 1:end - 1] = torch.tensor(tail[-nans:])
        sel = targets >= 0  # the vocabulary projection only where there is a loss
        loss = F.cross_entropy(model.lm_head(model.hidden(embeds)[sel]), targets[sel])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())
        if step % 10 == 0 or step == args.steps - 1:
            print("step %4d  loss %.3f  lr %.2e  %.0fs" % (step, loss.item(), lr_at(step), time.time() - t0), flush=True)
    train_s = time.time() - t0

    # A greedy sample in PyTorch, for the record (the demo itself samples in Go).
    demo_image = os.path.join(DATA, "xraygpt", "example_test_images", "img3.png")
    model.eval()
    with torch.no_grad():
        soft = encode(tl.preprocess(demo_image, IMG))
        s0, s1 = tl.prompt_segments("Describe the given chest x-ray image in detail.")
        x = torch.cat([model.embed([sp.bos_id()] + sp.encode(s0)), soft, model.embed(sp.encode(s1))])
        out = []
        for _ in range(120):
            nxt = int(model(x.unsqueeze(0))[0, -1].argmax())
            out.append(nxt)
            if "###" in sp.decode(out):
                break
            x = torch.cat([x, model.embed([nxt])])
    sample = sp.decode(out).split("###")[0].strip()
    print("greedy sample:", sample)

    tl.save_hf(model, sp_path, os.path.join(args.out, "hf"), torch.float16)
    tail = losses[-50:]
    log = {"config": CFG.hf("float16"), "params": nparams, "steps": args.steps, "batch": args.batch,
           "lr": args.lr, "threads": args.threads, "seed": args.seed,
           "loss_first": round(losses[0], 3), "loss_last50_mean": round(sum(tail) / len(tail), 3),
           "train_seconds": round(train_s, 1), "reports": len(answers), "prompts": len(prompts),
           "images": len(images), "greedy_sample": sample}
    with open(os.path.join(args.out, "train_log.json"), "w") as f:
        json.dump(log, f, indent=1)
    print(json.dumps({k: v for k, v in log.items() if k != "config"}, indent=1))


if __name__ == "__main__":
    main()
