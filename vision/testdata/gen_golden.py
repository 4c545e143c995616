#!/usr/bin/python3
"""Generate tiny random-weight vision checkpoints and PyTorch reference outputs.

Run from the repository root with Debian's Python (torch 1.13, numpy):

    /usr/bin/python3 vision/testdata/gen_golden.py

It writes, into vision/testdata/:

  eva_vit_g.pth                  plain state_dict, fp16 (as the real eva_vit_g.pth),
                                 with one extra block that the model must ignore
  blip2_pretrained_flant5xxl.pth {"model": ...} fp32: query_tokens, ln_vision.*,
                                 Qformer.bert.* (plus unused text-side keys)
  xraygpt_checkpoint.pth         {"model": {llama_proj.*}, "optimizer": ..., "epoch": ...}
  medclip_pytorch_model.bin      MedCLIP state_dict: vision_model.model.<HF Swin keys>,
                                 vision_model.projection_head.weight, text-side keys
  medclip_proj.pth               a projector state_dict {weight, bias} for the 49 tokens
  bad_proj_shape.pth             llama_proj.bias of the wrong length (converter error test)
  legacy_format.pth              a pre-1.6 (non-zip) torch.save file (converter error test)
  golden/*.npy                   inputs and every stage's expected output (float32)

With --realsize DIR it instead writes real-size random-weight checkpoints
(EVA ViT-g 1408 wide, 39+1 blocks; Q-Former 768 wide, 12 layers; llama_proj
768->4096; MedCLIP Swin-T) and their float64 reference outputs, stage by
stage and layer by layer, into DIR (about 2.3 GiB, never committed) for the
opt-in TestRealSizeFidelity and BenchmarkRealSizeFidelity (vision/fidelity_test.go).

The modules below are plain torch.nn written from the reference code
(salesforce/LAVIS eva_vit.py and blip2_models/Qformer.py, XrayGPT mini_gpt4.py
encode_img, Hugging Face modeling_swin.py, MedCLIP modeling_medclip.py),
with tiny widths but the same key names and the same mechanics: EVA q/v bias,
BERT post-LN with cross-attention every 2nd layer, Swin shifted windows with
the attention mask, relative position bias and patch merging.
"""
import math
import os
import re

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
GOLD = os.path.join(HERE, "golden")

# ---------------------------------------------------------------- EVA ViT


class EVAAttention(nn.Module):
    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim, bias=False)
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias)
        qkv = qkv.reshape(B, N, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        attn = attn.softmax(dim=-1)
        x = (attn @ v).transpose(1, 2).reshape(B, N, -1)
        return self.proj(x)


class EVAMlp(nn.Module):
    def __init__(self, dim, hidden):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x):
        return self.fc2(F.gelu(self.fc1(x)))


class EVABlock(nn.Module):
    def __init__(self, dim, heads, hidden):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = EVAAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = EVAMlp(dim, hidden)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class PatchEmbed(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)

    def forward(self, x):
        return self.proj(x).flatten(2).transpose(1, 2)


class EVAViT(nn.Module):
    def __init__(self, img, patch, dim, depth, heads, mlp_ratio):
        super().__init__()
        n = (img // patch) ** 2
        self.patch_embed = PatchEmbed(patch, dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, n + 1, dim))
        hidden = int(dim * mlp_ratio)
        self.blocks = nn.ModuleList([EVABlock(dim, heads, hidden) for _ in range(depth)])

    def embed(self, x):
        x = self.patch_embed(x)
        cls = self.cls_token.expand(x.shape[0], -1, -1)
        return torch.cat((cls, x), dim=1) + self.pos_embed


# ---------------------------------------------------------------- Q-Former


class BertSelfAttention(nn.Module):
    def __init__(self, dim, heads, kv_dim):
        super().__init__()
        self.heads = heads
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(kv_dim, dim)
        self.value = nn.Linear(kv_dim, dim)

    def split(self, x):
        B, N, C = x.shape
        return x.view(B, N, self.heads, C // self.heads).permute(0, 2, 1, 3)

    def forward(self, x, kv):
        q, k, v = self.split(self.query(x)), self.split(self.key(kv)), self.split(self.value(kv))
        s = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
        p = s.softmax(dim=-1)
        c = (p @ v).permute(0, 2, 1, 3).contiguous()
        return c.view(c.shape[0], c.shape[1], -1)


class BertSelfOutput(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dense = nn.Linear(dim, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, h, inp):
        return self.LayerNorm(self.dense(h) + inp)


class BertAttention(nn.Module):
    def __init__(self, dim, heads, kv_dim):
        super().__init__()
        self.self = BertSelfAttention(dim, heads, kv_dim)
        self.output = BertSelfOutput(dim)

    def forward(self, x, kv):
        return self.output(self.self(x, kv), x)


class BertIntermediate(nn.Module):
    def __init__(self, dim, ff):
        super().__init__()
        self.dense = nn.Linear(dim, ff)

    def forward(self, x):
        return F.gelu(self.dense(x))


class BertOutput(nn.Module):
    def __init__(self, dim, ff):
        super().__init__()
        self.dense = nn.Linear(ff, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=1e-12)

    def forward(self, h, inp):
        return self.LayerNorm(self.dense(h) + inp)


class QFormerLayer(nn.Module):
    def __init__(self, dim, heads, ff, enc_dim, cross):
        super().__init__()
        self.attention = BertAttention(dim, heads, dim)
        if cross:
            self.crossattention = BertAttention(dim, heads, enc_dim)
        # text-side FFN: present in the checkpoint, unused for query tokens
        self.intermediate = BertIntermediate(dim, ff)
        self.output = BertOutput(dim, ff)
        self.intermediate_query = BertIntermediate(dim, ff)
        self.output_query = BertOutput(dim, ff)

    def forward(self, x, enc):
        h = self.attention(x, x)
        if hasattr(self, "crossattention"):
            h = self.crossattention(h, enc)
        return self.output_query(self.intermediate_query(h), h)


class Embeddings(nn.Module):
    def __init__(self, dim, vocab, maxpos):
        super().__init__()
        self.word_embeddings = nn.Embedding(vocab, dim)
        self.position_embeddings = nn.Embedding(maxpos, dim)
        self.LayerNorm = nn.LayerNorm(dim, eps=1e-12)
        self.register_buffer("position_ids", torch.arange(maxpos).expand((1, -1)))


class Encoder(nn.Module):
    def __init__(self, layers):
        super().__init__()
        self.layer = nn.ModuleList(layers)


class Bert(nn.Module):
    def __init__(self, dim, heads, ff, enc_dim, depth, freq):
        super().__init__()
        self.embeddings = Embeddings(dim, 50, 16)
        self.encoder = Encoder([QFormerLayer(dim, heads, ff, enc_dim, i % freq == 0) for i in range(depth)])

    def forward(self, query, enc):
        x = self.embeddings.LayerNorm(query)
        for layer in self.encoder.layer:
            x = layer(x, enc)
        return x


class QFormer(nn.Module):
    def __init__(self, **kw):
        super().__init__()
        self.bert = Bert(**kw)


class BLIP2(nn.Module):
    def __init__(self, vis_dim, nq, dim, heads, ff, depth, freq):
        super().__init__()
        self.query_tokens = nn.Parameter(torch.zeros(1, nq, dim))
        self.ln_vision = nn.LayerNorm(vis_dim)
        self.Qformer = QFormer(dim=dim, heads=heads, ff=ff, enc_dim=vis_dim, depth=depth, freq=freq)


# ---------------------------------------------------------------- Swin (HF)


def window_partition(x, w):
    B, H, W, C = x.shape
    x = x.view(B, H // w, w, W // w, w, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, w, w, C)


def window_reverse(win, w, H, W):
    C = win.shape[-1]
    x = win.view(-1, H // w, W // w, w, w, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, H, W, C)


class SwinSelfAttention(nn.Module):
    def __init__(self, dim, heads, w):
        super().__init__()
        self.heads, self.w = heads, w
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * w - 1) ** 2, heads))
        ch, cw = torch.arange(w), torch.arange(w)
        coords = torch.flatten(torch.stack(torch.meshgrid([ch, cw], indexing="ij")), 1)
        rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        rel[:, :, 0] += w - 1
        rel[:, :, 1] += w - 1
        rel[:, :, 0] *= 2 * w - 1
        self.register_buffer("relative_position_index", rel.sum(-1))
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)

    def forward(self, x, mask):
        B, N, C = x.shape
        hd = C // self.heads

        def split(t):
            return t.view(B, N, self.heads, hd).permute(0, 2, 1, 3)

        q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
        s = q @ k.transpose(-1, -2) / math.sqrt(hd)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(N, N, -1).permute(2, 0, 1).contiguous()
        s = s + bias.unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            s = s.view(B // nw, nw, self.heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
            s = s.view(-1, self.heads, N, N)
        p = s.softmax(dim=-1)
        c = (p @ v).permute(0, 2, 1, 3).contiguous()
        return c.view(B, N, C)


class Dense(nn.Module):
    def __init__(self, i, o):
        super().__init__()
        self.dense = nn.Linear(i, o)


class SwinAttention(nn.Module):
    def __init__(self, dim, heads, w):
        super().__init__()
        self.self = SwinSelfAttention(dim, heads, w)
        self.output = Dense(dim, dim)


class SwinLayer(nn.Module):
    def __init__(self, dim, res, heads, w, shift):
        super().__init__()
        if res <= w:
            shift, w = 0, res
        self.res, self.w, self.shift = res, w, shift
        self.layernorm_before = nn.LayerNorm(dim)
        self.attention = SwinAttention(dim, heads, w)
        self.layernorm_after = nn.LayerNorm(dim)
        self.intermediate = Dense(dim, 4 * dim)
        self.output = Dense(4 * dim, dim)

    def mask(self):
        if self.shift == 0:
            return None
        H = W = self.res
        img = torch.zeros((1, H, W, 1))
        sl = (slice(0, -self.w), slice(-self.w, -self.shift), slice(-self.shift, None))
        c = 0
        for h in sl:
            for w in sl:
                img[:, h, w, :] = c
                c += 1
        mw = window_partition(img, self.w).view(-1, self.w * self.w)
        m = mw.unsqueeze(1) - mw.unsqueeze(2)
        return m.masked_fill(m != 0, -100.0).masked_fill(m == 0, 0.0)

    def forward(self, x):
        B, L, C = x.shape
        H = W = self.res
        short = x
        x = self.layernorm_before(x).view(B, H, W, C)
        if self.shift > 0:
            x = torch.roll(x, shifts=(-self.shift, -self.shift), dims=(1, 2))
        win = window_partition(x, self.w).view(-1, self.w * self.w, C)
        a = self.attention.self(win, self.mask())
        a = self.attention.output.dense(a)
        x = window_reverse(a.view(-1, self.w, self.w, C), self.w, H, W)
        if self.shift > 0:
            x = torch.roll(x, shifts=(self.shift, self.shift), dims=(1, 2))
        x = short + x.reshape(B, H * W, C)
        y = F.gelu(self.intermediate.dense(self.layernorm_after(x)))
        return x + self.output.dense(y)


class PatchMerging(nn.Module):
    def __init__(self, dim, res):
        super().__init__()
        self.res = res
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x):
        B, L, C = x.shape
        x = x.view(B, self.res, self.res, C)
        x0 = x[:, 0::2, 0::2, :]
        x1 = x[:, 1::2, 0::2, :]
        x2 = x[:, 0::2, 1::2, :]
        x3 = x[:, 1::2, 1::2, :]
        x = torch.cat([x0, x1, x2, x3], -1).view(B, -1, 4 * C)
        return self.reduction(self.norm(x))


class SwinStage(nn.Module):
    def __init__(self, dim, res, depth, heads, w, last):
        super().__init__()
        self.blocks = nn.ModuleList(
            [SwinLayer(dim, res, heads, w, 0 if i % 2 == 0 else w // 2) for i in range(depth)])
        if not last:
            self.downsample = PatchMerging(dim, res)


class SwinPatchEmbeddings(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.projection = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)


class SwinEmbeddings(nn.Module):
    def __init__(self, patch, dim):
        super().__init__()
        self.patch_embeddings = SwinPatchEmbeddings(patch, dim)
        self.norm = nn.LayerNorm(dim)


class SwinEncoder(nn.Module):
    def __init__(self, stages):
        super().__init__()
        self.layers = nn.ModuleList(stages)


class SwinModel(nn.Module):
    def __init__(self, img, patch, dim, depths, heads, w):
        super().__init__()
        self.embeddings = SwinEmbeddings(patch, dim)
        res = img // patch
        stages = []
        for i, (d, h) in enumerate(zip(depths, heads)):
            stages.append(SwinStage(dim * 2 ** i, res // 2 ** i, d, h, w, i == len(depths) - 1))
        self.encoder = SwinEncoder(stages)
        self.layernorm = nn.LayerNorm(dim * 2 ** (len(depths) - 1))


class MedCLIPVision(nn.Module):
    def __init__(self, swin, proj_dim):
        super().__init__()
        self.model = swin
        self.projection_head = nn.Linear(swin.layernorm.normalized_shape[0], proj_dim, bias=False)


class TextStub(nn.Module):
    def __init__(self):
        super().__init__()
        self.projection_head = nn.Linear(8, 4, bias=False)


class MedCLIP(nn.Module):
    def __init__(self, vision):
        super().__init__()
        self.vision_model = vision
        self.text_model = TextStub()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))


# ---------------------------------------------------------------- helpers


def randomize(module, gen, scale=0.2):
    """Fill every parameter with reproducible random values (LayerNorm around 1)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            r = torch.randn(p.shape, generator=gen)
            if name.endswith("LayerNorm.weight") or ".norm" in name and name.endswith("weight") \
                    or "layernorm" in name and name.endswith("weight") or name.endswith("ln_vision.weight"):
                p.copy_(1.0 + 0.1 * r)
            else:
                p.copy_(scale * r)


def xraygpt_checkpoints(out, gen, img, patch, eva_dim, eva_depth, eva_heads,
                        q_dim, q_heads, q_ff, q_depth, n_query, llm_width, proj_extra=None):
    """Random tiny EVA (eva_depth blocks used + 1 extra, fp16 values), BLIP-2
    Q-Former and llama_proj, saved in out/ as XrayGPT's three files are laid
    out: eva_vit_g.pth (plain fp16 state_dict), blip2_pretrained_flant5xxl.pth
    ({"model": ...}) and xraygpt_checkpoint.pth ({"model": llama_proj.*} plus
    proj_extra's keys). Returns the modules."""
    eva = EVAViT(img, patch, eva_dim, eva_depth + 1, eva_heads, 4.3637)
    randomize(eva, gen)
    with torch.no_grad():
        for p in eva.parameters():
            p.copy_(p.half().float())
    blip = BLIP2(vis_dim=eva_dim, nq=n_query, dim=q_dim, heads=q_heads, ff=q_ff, depth=q_depth, freq=2)
    randomize(blip, gen)
    proj = nn.Linear(q_dim, llm_width)
    randomize(proj, gen)
    os.makedirs(out, exist_ok=True)
    torch.save({k: v.half() for k, v in eva.state_dict().items()}, os.path.join(out, "eva_vit_g.pth"))
    torch.save({"model": blip.state_dict()}, os.path.join(out, "blip2_pretrained_flant5xxl.pth"))
    ckpt = {"model": {"llama_proj.weight": proj.weight.detach().clone(),
                      "llama_proj.bias": proj.bias.detach().clone()}}
    ckpt.update(proj_extra or {})
    torch.save(ckpt, os.path.join(out, "xraygpt_checkpoint.pth"))
    return eva, blip, proj


def save_npy(name, t):
    np.save(os.path.join(GOLD, name + ".npy"), t.detach().float().numpy().astype(np.float32))


def main():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1234)
    os.makedirs(GOLD, exist_ok=True)

    # ---- XrayGPT family: EVA (3 blocks used, 4 in the checkpoint) -> ln_vision -> Q-Former -> proj
    img, patch, dim, depth, heads = 56, 14, 48, 3, 4
    eva = EVAViT(img, patch, dim, depth + 1, heads, 4.3637)
    randomize(eva, gen)
    with torch.no_grad():  # the real eva_vit_g.pth is fp16: round, then run in fp32
        for p in eva.parameters():
            p.copy_(p.half().float())
    torch.save({k: v.half() for k, v in eva.state_dict().items()}, os.path.join(HERE, "eva_vit_g.pth"))

    blip = BLIP2(vis_dim=dim, nq=8, dim=32, heads=4, ff=64, depth=4, freq=2)
    randomize(blip, gen)
    sd = {"model": blip.state_dict()}
    torch.save(sd, os.path.join(HERE, "blip2_pretrained_flant5xxl.pth"))

    llama_proj = nn.Linear(32, 40)
    randomize(llama_proj, gen)
    torch.save({"model": {"llama_proj.weight": llama_proj.weight.detach().clone(),
                          "llama_proj.bias": llama_proj.bias.detach().clone()},
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "params": [0, 1]}]},
                "config": {"model": {"arch": "mini_gpt4"}},
                "epoch": 3}, os.path.join(HERE, "xraygpt_checkpoint.pth"))

    # bad inputs for the converter's error tests
    torch.save({"model": {"llama_proj.weight": llama_proj.weight.detach().clone(),
                          "llama_proj.bias": torch.zeros(41)}}, os.path.join(HERE, "bad_proj_shape.pth"))
    torch.save({"model": {"llama_proj.weight": llama_proj.weight.detach().clone()}},
               os.path.join(HERE, "legacy_format.pth"), _use_new_zipfile_serialization=False)

    x = torch.randn((1, 3, img, img), generator=gen)
    with torch.no_grad():
        save_npy("eva_input", x[0])
        h = eva.embed(x)
        save_npy("eva_embed", h[0])
        for i in range(depth):
            h = eva.blocks[i](h)
            if i == 0:
                save_npy("eva_block0", h[0])
        save_npy("eva_out", h[0])
        v = blip.ln_vision(h)
        save_npy("ln_vision", v[0])
        q = blip.Qformer.bert(blip.query_tokens, v)
        save_npy("qformer_out", q[0])
        save_npy("soft_tokens", llama_proj(q)[0])

    # ---- MedCLIP family: Swin (stage 1 28x28 and stage 2 14x14 shifted, stage 3 7x7 unshifted)
    simg, spatch, sdim, depths, sheads, win = 112, 4, 12, (2, 2, 2), (1, 2, 4), 7
    swin = SwinModel(simg, spatch, sdim, depths, sheads, win)
    vis = MedCLIPVision(swin, 24)
    med = MedCLIP(vis)
    randomize(med, gen)
    torch.save(med.state_dict(), os.path.join(HERE, "medclip_pytorch_model.bin"))
    width = sdim * 2 ** (len(depths) - 1)
    proj = nn.Linear(width, 40)
    randomize(proj, gen)
    torch.save(proj.state_dict(), os.path.join(HERE, "medclip_proj.pth"))

    g = torch.randn((1, 1, simg, simg), generator=gen)
    with torch.no_grad():
        save_npy("swin_input", g[0])
        x = g.repeat((1, 3, 1, 1))  # MedCLIPVisionModelViT repeats a single channel
        e = swin.embeddings.patch_embeddings.projection(x).flatten(2).transpose(1, 2)
        e = swin.embeddings.norm(e)
        save_npy("swin_embed", e[0])
        h = e
        for s, stage in enumerate(swin.encoder.layers):
            for b, blk in enumerate(stage.blocks):
                h = blk(h)
                if s == 0 and b == 1:
                    save_npy("swin_block1", h[0])  # the first shifted block
            if hasattr(stage, "downsample"):
                h = stage.downsample(h)
            save_npy("swin_stage%d" % s, h[0])
        last = swin.layernorm(h)
        save_npy("swin_last_hidden", last[0])
        pooled = last.mean(dim=1)
        save_npy("swin_pooled", pooled[0])
        save_npy("swin_embeds", vis.projection_head(pooled)[0])
        save_npy("swin_soft_tokens", proj(last)[0])


# ---------------------------------------------------------------- real size


def init_realsize(module, gen, prefix=""):
    """Random weights at the real sizes' scale: Linear/conv weights with
    standard deviation 1/sqrt(fan_in) (unit-variance outputs, attention logits
    of order 1 as in a trained model), LayerNorm weights 1 + 0.1 N(0,1),
    biases 0.02 N(0,1), tokens and position tables N(0,1)."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            r = torch.randn(p.shape, generator=gen, dtype=torch.float64)
            full = prefix + name
            if p.dim() == 1 and ("norm" in full.lower() or "ln_vision" in full) and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * r)
            elif p.dim() == 1:
                p.copy_(0.02 * r)
            elif p.dim() >= 2 and name.endswith("weight") and not full.endswith("_embeddings.weight") \
                    and "relative_position" not in full:
                fan_in = p[0].numel()
                p.copy_(r / math.sqrt(fan_in))
            else:
                p.copy_(r)


def relerr(a, ref):
    """max |a - ref| / max |ref|."""
    return float((a.double() - ref).abs().max() / ref.abs().max())


def realsize(out):
    """Real-size random-weight checkpoints with the real key names, written to
    out/ (about 2.3 GiB: not committed), and the float64 reference of every
    stage and layer as float32 .npy files, for the opt-in Go test:

        /usr/bin/python3 vision/testdata/gen_golden.py --realsize /tmp/realsize
        XRAYGPT_REALSIZE=/tmp/realsize go test -run RealSizeFidelity -v ./vision/

    torch_f32.txt records how far PyTorch's own float32 forward is from the
    float64 one at every stage (what float32 can reach)."""
    gen = torch.Generator().manual_seed(4321)
    os.makedirs(out, exist_ok=True)
    report = []

    def save(name, t):
        np.save(os.path.join(out, name + ".npy"), t.detach().double().numpy().astype(np.float32))

    def note(stage, a32, a64):
        report.append("%-16s %.3g" % (stage, relerr(a32, a64)))
        print(report[-1], flush=True)

    # ---- XrayGPT: EVA ViT-g (39 of 40 blocks) -> ln_vision -> Q-Former -> llama_proj
    img, patch, D, depth, heads, mlp = 224, 14, 1408, 39, 16, 6144
    eva = EVAViT(img, patch, D, 0, heads, mlp / D).double()
    init_realsize(eva, gen)
    sd = {}
    with torch.no_grad():
        for p in eva.parameters():  # the real eva_vit_g.pth is fp16
            p.copy_(p.half().double())
    sd.update({k: v.half() for k, v in eva.state_dict().items()})
    x = torch.randn((1, 3, img, img), generator=gen, dtype=torch.float64)
    save("eva_input", x[0])
    with torch.no_grad():
        h64 = eva.embed(x)
        h32 = eva.float().embed(x.float())
        save("eva_embed", h64[0])
        note("patch_embed", h32, h64)
        blk = EVABlock(D, heads, mlp)
        for i in range(depth + 1):
            init_realsize(blk, gen, "blocks.%d." % i)
            for p in blk.parameters():
                p.copy_(p.half().float())
            sd.update({"blocks.%d.%s" % (i, k): v.half() for k, v in blk.state_dict().items()})
            if i == depth:
                break  # the 40th block is in the checkpoint but unused
            h32 = blk.float()(h32)
            h64 = blk.double()(h64)
            save("eva_block%d" % i, h64[0])
            if i in (0, depth // 2, depth - 1):
                note("eva_block%d" % i, h32, h64)
    torch.save(sd, os.path.join(out, "eva_vit_g.pth"))
    del sd
    save("eva_out", h64[0])

    blip = BLIP2(vis_dim=D, nq=32, dim=768, heads=12, ff=3072, depth=12, freq=2).double()
    init_realsize(blip, gen)
    torch.save({"model": blip.float().state_dict()}, os.path.join(out, "blip2_pretrained_flant5xxl.pth"))
    proj = nn.Linear(768, 4096).double()
    init_realsize(proj, gen)
    torch.save({"model": {"llama_proj.weight": proj.weight.detach().float().clone(),
                          "llama_proj.bias": proj.bias.detach().float().clone()}},
               os.path.join(out, "xraygpt_checkpoint.pth"))
    with torch.no_grad():
        bert = blip.Qformer.bert
        for dt, h in ((torch.float32, h32), (torch.float64, h64)):
            blip.to(dt)
            proj.to(dt)
            v = blip.ln_vision(h)
            # Every Q-Former layer twice: in the chain, and (f64 only) from the
            # float32-rounded input, to measure a layer's own error.
            q = bert.embeddings.LayerNorm(blip.query_tokens)
            outs = [q]
            for layer in bert.encoder.layer:
                q = layer(q, v)
                outs.append(q)
            soft = proj(q)
            if dt == torch.float32:
                r32 = (v, outs, soft)
                continue
            save("ln_vision", v[0])
            for i, o in enumerate(outs):
                save("qformer_layer%d" % i, o[0])  # 0 = embeddings.LayerNorm
            save("qformer_out", q[0])
            save("soft_tokens", soft[0])
            note("ln_vision", r32[0], v)
            for i in (0, 1, 2, 6, 12):
                note("qformer_layer%d" % i, r32[1][i], outs[i])
            note("soft_tokens", r32[2], soft)
    del eva, blk

    # ---- MedCLIP: Swin-T at 224 + projection_head, and a 768->4096 projector
    simg, spatch, sdim, depths, sheads, win = 224, 4, 96, (2, 2, 6, 2), (3, 6, 12, 24), 7
    swin = SwinModel(simg, spatch, sdim, depths, sheads, win)
    vis = MedCLIPVision(swin, 512)
    med = MedCLIP(vis).double()
    init_realsize(med, gen)
    torch.save(med.float().state_dict(), os.path.join(out, "medclip_pytorch_model.bin"))
    sproj = nn.Linear(8 * sdim, 4096).double()
    init_realsize(sproj, gen)
    torch.save(sproj.float().state_dict(), os.path.join(out, "medclip_proj.pth"))
    g = torch.randn((1, 1, simg, simg), generator=gen, dtype=torch.float64)
    save("swin_input", g[0])
    with torch.no_grad():
        res = {}
        for dt in (torch.float32, torch.float64):
            med.to(dt)
            sproj.to(dt)
            x = g.to(dt).repeat((1, 3, 1, 1))
            e = swin.embeddings.patch_embeddings.projection(x).flatten(2).transpose(1, 2)
            h = swin.embeddings.norm(e)
            outs = {"swin_embed": h}
            for s, stage in enumerate(swin.encoder.layers):
                for b, blk in enumerate(stage.blocks):
                    h = blk(h)
                    outs["swin_s%db%d" % (s, b)] = h
                if hasattr(stage, "downsample"):
                    h = stage.downsample(h)
                outs["swin_stage%d" % s] = h
            last = swin.layernorm(h)
            outs["swin_last_hidden"] = last
            pooled = last.mean(dim=1)
            outs["swin_pooled"] = pooled
            outs["swin_embeds"] = vis.projection_head(pooled)
            outs["swin_soft_tokens"] = sproj(last)
            res[dt] = outs
        for k, v in res[torch.float64].items():
            save(k, v[0])
            if not re.fullmatch(r"swin_s\d+b\d+", k):
                note(k, res[torch.float32][k], v)
    with open(os.path.join(out, "torch_f32.txt"), "w") as f:
        f.write("# PyTorch float32 forward vs float64, max|f32-f64|/max|f64|\n")
        f.write("\n".join(report) + "\n")


if __name__ == "__main__":
    import sys
    if len(sys.argv) == 3 and sys.argv[1] == "--realsize":
        realsize(sys.argv[2])
    else:
        main()
