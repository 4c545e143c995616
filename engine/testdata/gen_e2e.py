#!/usr/bin/python3
"""End-to-end reference for XrayGPT's whole path, on tiny random weights.

Run from the repository root with Debian's Python (torch 1.13, numpy, PIL,
sentencepiece); it reads the IU X-ray reports and XrayGPT prompts in
../shared/data (or $XRAYGPT_DATA):

    /usr/bin/python3 engine/testdata/gen_e2e.py

It writes, into engine/testdata/:

  tinyllama/        a Hugging Face LLaMA folder like Vicuna_Radiology_fp16: config.json,
                    pytorch_model.bin (fp16, torch.save zip), tokenizer.model (SentencePiece
                    BPE, byte fallback, 600 pieces, trained on the reports and prompts),
                    tokenizer_config.json, special_tokens_map.json, generation_config.json
  vision/           eva_vit_g.pth (fp16, one extra block the model must ignore),
                    blip2_pretrained_flant5xxl.pth, xraygpt_checkpoint.pth (llama_proj),
                    the real key layout, made with vision/testdata/gen_golden.py's modules
  e2e_image.png     the input X-ray: XrayGPT's demo example images/example_test_images/img6.png,
                    copied byte for byte (256x256 8-bit grey; CC BY-NC-SA 4.0, mbzuai-oryx/XrayGPT)
  e2e.json          prompt segments and their token ids, generated ids, margins, turn 2, ...
  soft_tokens.f32   the image's soft tokens, float32 little-endian [n_soft, hidden]
  logits0.f32       logits at the last prompt position (step 0), float32 [vocab]
  text_logits.f32   logits after a text-only prompt (e2e.json "text_only"), float32 [vocab]

The reference runs in float32 from the fp16 weights (so an F32 and an F16 GGUF hold the same
values), splices the soft tokens into inputs_embeds between the prompt's two segments (BOS
on the first only), and decodes greedily with a full forward per step (no KV cache).
"""
import json
import os
import shutil
import sys

import numpy as np
import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DATA = os.environ.get("XRAYGPT_DATA", os.path.join(ROOT, "..", "shared", "data"))
sys.path.insert(0, os.path.join(ROOT, "demo"))
sys.path.insert(0, os.path.join(ROOT, "vision", "testdata"))

import gen_golden as vg  # noqa: E402  the vision engineer's tiny EVA / Q-Former modules
import tinyllama as tl  # noqa: E402

QUESTION = "Describe the given chest x-ray image in detail."
QUESTION2 = "Is there any pleural effusion?"
N_GEN = 32          # greedy tokens per turn
N_CHECK = 16        # steps whose top-2 margin must be comfortable
MIN_MARGIN = 0.25   # logits; F16 rounding moves them by ~1e-2 here

# Tiny shapes: EVA at the real 224x224 input and patch 14 (257 tokens), 32 query tokens.
IMG, PATCH, EVA_DIM, EVA_DEPTH, EVA_HEADS = 224, 14, 32, 2, 4
Q_DIM, Q_HEADS, Q_FF, Q_DEPTH, N_QUERY = 32, 4, 64, 2, 32
CFG = tl.Config(vocab_size=600, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                num_attention_heads=4, max_position_embeddings=512)

TOKENIZER_CASES = [
    "###", " ###", "###Patient:", "Doctor:", "<Img>", "</Img>",
    "The heart size is normal. No pleural effusion or pneumothorax.",
    "T11-12 1.5 cm, 2024 views; XXXX.", "  two  spaces\tand a tab\nand a newline",
    "café naïve", "emoji \U0001F600 and 中文", "a", " ",
]


def corpus():
    lines = [tl.SYSTEM, "###Patient:", "###Doctor:", "<Img>", "</Img>"]
    with open(os.path.join(DATA, "xraygpt", "prompts", "alignment.txt"), encoding="utf-8") as f:
        prompts = [p.replace("<Img><ImageHere></Img>", "").strip() for p in f.read().splitlines()]
    lines += prompts
    with open(os.path.join(DATA, "iu_xray_samples", "reports.jsonl"), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            lines += [r["report"] or "", r["impression"] or "", r["indication"] or ""]
    return lines


def write_f32(name, t):
    a = t.detach().float().numpy().astype("<f4")
    a.tofile(os.path.join(HERE, name))
    return list(a.shape)


def tiny_vision(gen):
    """Tiny EVA + Q-Former + llama_proj in the real checkpoint layout."""
    return vg.xraygpt_checkpoints(os.path.join(HERE, "vision"), gen, IMG, PATCH, EVA_DIM, EVA_DEPTH, EVA_HEADS,
                                  Q_DIM, Q_HEADS, Q_FF, Q_DEPTH, N_QUERY, CFG.hidden_size, proj_extra={"epoch": 3})


def encode_img(eva, blip, proj, x):
    """XrayGPT's MiniGPT4.encode_img: EVA (all but the last block) -> ln_vision
    -> Q-Former over the query tokens -> llama_proj."""
    h = eva.embed(x)
    for blk in eva.blocks[:EVA_DEPTH]:
        h = blk(h)
    v = blip.ln_vision(h)
    q = blip.Qformer.bert(blip.query_tokens, v)
    return proj(q)[0]


def random_llama(seed):
    torch.manual_seed(seed)
    m = tl.LlamaForCausalLM(CFG)
    with torch.no_grad():
        for name, p in m.named_parameters():
            if name.endswith("norm.weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape))
            elif "embed_tokens" in name:
                p.copy_(torch.randn(p.shape))
            elif name == "lm_head.weight":  # a wide logit spread keeps greedy choices clear
                p.copy_(torch.randn(p.shape) * 6.0 / p.shape[1] ** 0.5)
            else:
                p.copy_(torch.randn(p.shape) * 1.5 / p.shape[1] ** 0.5)
            # The fp16 checkpoint holds exactly these values; no fp16 subnormals
            # (gopickle, which the converter's tests read the checkpoint with, decodes them wrongly).
            h = p.half().float()
            p.copy_(torch.where(h.abs() < 2.0 ** -14, torch.zeros_like(h), h))
    return m


def greedy(m, embeds, n):
    """Greedy decode from inputs_embeds [T,hidden]: ids, margins, first logits."""
    ids, margins, first = [], [], None
    x = embeds
    for _ in range(n):
        logits = m(x.unsqueeze(0))[0, -1]
        if first is None:
            first = logits
        top = torch.topk(logits, 2)
        ids.append(int(top.indices[0]))
        margins.append(float(top.values[0] - top.values[1]))
        x = torch.cat([x, m.embed([ids[-1]])])
    return ids, margins, first


def main():
    import sentencepiece as spm
    # Tokenizer.
    os.makedirs(os.path.join(HERE, "tinyllama"), exist_ok=True)
    sp_path = tl.train_tokenizer(corpus(), CFG.vocab_size, os.path.join(HERE, "tinyllama", "_sp.model"))
    sp = spm.SentencePieceProcessor(model_file=sp_path)
    assert sp.vocab_size() == CFG.vocab_size

    # Image -> soft tokens.
    src = os.path.join(DATA, "xraygpt", "example_test_images", "img6.png")
    img_path = os.path.join(HERE, "e2e_image.png")
    shutil.copyfile(src, img_path)
    gen = torch.Generator().manual_seed(2024)
    eva, blip, proj = tiny_vision(gen)
    with torch.no_grad():
        soft = encode_img(eva, blip, proj, tl.preprocess(img_path, IMG))

    seg0, seg1 = tl.prompt_segments(QUESTION)
    ids0 = [sp.bos_id()] + sp.encode(seg0)
    ids1 = sp.encode(seg1)

    # Pick the first seed whose greedy path has comfortable margins and some variety.
    with torch.no_grad():
        for seed in range(200):
            m = random_llama(seed)
            embeds = torch.cat([m.embed(ids0), soft, m.embed(ids1)])
            gen_ids, margins, _ = greedy(m, embeds, N_CHECK)
            if min(margins) >= MIN_MARGIN and len(set(gen_ids)) >= 6:
                break
        else:
            raise SystemExit("no seed with comfortable margins")
        gen_ids, margins, logits0 = greedy(m, embeds, N_GEN)
        print("seed", seed, "min margin over %d steps: %.3f" % (N_CHECK, min(margins[:N_CHECK])))
        print("turn 1:", gen_ids)
        print("        %r" % sp.decode(gen_ids))

        # Turn 2, appended after the first answer (the N_GEN generated tokens), as a KV cache
        # holds it: ... ids1, answer ids, then "###Patient: q2###Doctor:" tokenized on its own.
        append_text = "###Patient: " + QUESTION2 + "###Doctor:"
        append_ids = sp.encode(append_text)
        x2 = torch.cat([embeds, m.embed(gen_ids), m.embed(append_ids)])
        gen2, margins2, _ = greedy(m, x2, N_GEN)
        print("turn 2:", gen2, "min margin %.3f" % min(margins2[:N_CHECK]))

        # Turn 2 as XrayGPT's Chat re-tokenizes it: the answer text (cut at ###, stripped)
        # inside the whole prompt string, split again at <ImageHere>.
        answer1 = sp.decode(gen_ids).split("###")[0].split("Doctor:")[-1].strip()
        full = (tl.SYSTEM + "###Patient: <Img><ImageHere></Img> " + QUESTION + "###Doctor: " + answer1 +
                "###Patient: " + QUESTION2 + "###Doctor:")
        r0, r1 = full.split("<ImageHere>")
        rids0, rids1 = [sp.bos_id()] + sp.encode(r0), sp.encode(r1)
        x3 = torch.cat([m.embed(rids0), soft, m.embed(rids1)])
        gen3, margins3, _ = greedy(m, x3, N_GEN)

        # Text only (no image): for checking a converted model's logits directly.
        text_ids = [sp.bos_id()] + sp.encode("Describe the heart and lungs.")
        text_logits = m(m.embed(text_ids).unsqueeze(0))[0, -1]

    tl.save_hf(m, sp_path, os.path.join(HERE, "tinyllama"), torch.float16)
    os.unlink(sp_path)

    ref = {
        "note": "written by engine/testdata/gen_e2e.py; token ids are SentencePiece's",
        "seed": seed,
        "system": tl.SYSTEM,
        "question": QUESTION,
        "image": "e2e_image.png",
        "image_size": IMG,
        "segments": [seg0, seg1],
        "segment_ids": [ids0, ids1],
        "n_soft": soft.shape[0],
        # What the vision converter cannot read from these tiny checkpoints' shapes
        # (its defaults are EVA width/88 heads and Q-Former width/64 heads).
        "vision_options": {"eva_heads": EVA_HEADS, "qformer_heads": Q_HEADS, "eva_blocks": EVA_DEPTH},
        "hidden": CFG.hidden_size,
        "vocab": CFG.vocab_size,
        "soft_tokens": {"file": "soft_tokens.f32", "shape": write_f32("soft_tokens.f32", soft)},
        "logits0": {"file": "logits0.f32", "shape": write_f32("logits0.f32", logits0)},
        "generated_ids": gen_ids,
        "generated_text": sp.decode(gen_ids),
        "margins": [round(v, 4) for v in margins],
        "turn2": {
            "question": QUESTION2,
            "answer1_ids": gen_ids,
            "append_text": append_text,
            "append_ids": append_ids,
            "generated_ids": gen2,
            "margins": [round(v, 4) for v in margins2],
        },
        "turn2_retokenized": {
            "answer1_text": answer1,
            "segments": [r0, r1],
            "segment_ids": [rids0, rids1],
            "generated_ids": gen3,
            "margins": [round(v, 4) for v in margins3],
        },
        "text_only": {"ids": text_ids, "logits": {"file": "text_logits.f32",
                                                   "shape": write_f32("text_logits.f32", text_logits)}},
        "tokenizer_cases": [{"text": t, "ids": sp.encode(t)} for t in TOKENIZER_CASES],
    }
    with open(os.path.join(HERE, "e2e.json"), "w", encoding="utf-8") as f:
        json.dump(ref, f, indent=1, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
