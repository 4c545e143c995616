"""A small LLaMA in plain PyTorch, in Hugging Face's layout, plus the helpers
the demo recipe and the end-to-end reference share.

The forward pass follows Hugging Face transformers' LlamaForCausalLM (v4.28,
the version XrayGPT pins): RMSNorm, rotary embeddings applied with
rotate_half (the first and second halves of each head are the pair), SiLU
gated MLP, no biases. The state dict uses the real key names
(model.embed_tokens.weight, model.layers.N.self_attn.q_proj.weight, ...), so
save_hf writes a folder that Hugging Face and our Go converter both read.
Nothing here is llama.cpp's layout: the converter's q/k permutation is what
the end-to-end test checks.

Needs Debian's python3-torch (1.13) and python3-sentencepiece.
"""
import json
import os
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

# XrayGPT's CONV_VISION (xraygpt/conversation/conversation.py).
SYSTEM = ("You are an experienced Doctor, give the following medical scan: <Img>ImageContent</Img>. "
          "You will be able to see the medical scan once I provide it to you. Please answer my questions.")


def prompt_segments(question):
    """The first turn's prompt split at <ImageHere>, as Chat.get_context_emb does.

    get_prompt() gives  system + "###" + "Patient: <Img><ImageHere></Img> q" + "###" + "Doctor:".
    """
    text = SYSTEM + "###" + "Patient: <Img><ImageHere></Img> " + question + "###" + "Doctor:"
    seg0, seg1 = text.split("<ImageHere>")
    return seg0, seg1


def train_tokenizer(lines, vocab_size, path):
    """Train a LLaMA-style SentencePiece BPE model (byte fallback, digits
    split, no normalization, ids unk=0 bos=1 eos=2), write it to path and
    return path. The sentences come from an iterator, so the model file
    records no temporary paths and the same input gives the same bytes."""
    import io
    import sentencepiece as spm
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter([l.strip() for l in lines if l.strip()]), model_writer=model,
        vocab_size=vocab_size, model_type="bpe",
        byte_fallback=True, character_coverage=1.0, split_digits=True,
        normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, allow_whitespace_only_pieces=True,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1,
        max_sentence_length=8192, minloglevel=2)
    with open(path, "wb") as f:
        f.write(model.getvalue())
    return path


class Config:
    def __init__(self, vocab_size, hidden_size, intermediate_size, num_hidden_layers,
                 num_attention_heads, num_key_value_heads=None, rms_norm_eps=1e-6,
                 rope_theta=10000.0, max_position_embeddings=2048):
        self.vocab_size = vocab_size
        self.hidden_size = hidden_size
        self.intermediate_size = intermediate_size
        self.num_hidden_layers = num_hidden_layers
        self.num_attention_heads = num_attention_heads
        self.num_key_value_heads = num_key_value_heads or num_attention_heads
        self.rms_norm_eps = rms_norm_eps
        self.rope_theta = rope_theta
        self.max_position_embeddings = max_position_embeddings

    def hf(self, dtype):
        return {
            "architectures": ["LlamaForCausalLM"], "model_type": "llama",
            "vocab_size": self.vocab_size, "hidden_size": self.hidden_size,
            "intermediate_size": self.intermediate_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "num_key_value_heads": self.num_key_value_heads,
            "rms_norm_eps": self.rms_norm_eps, "rope_theta": self.rope_theta,
            "max_position_embeddings": self.max_position_embeddings,
            "hidden_act": "silu", "initializer_range": 0.02, "tie_word_embeddings": False,
            "bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0,
            "torch_dtype": dtype, "use_cache": True,
        }


class RMSNorm(nn.Module):
    def __init__(self, n, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def rope(T, head_dim, theta, start=0):
    """cos, sin of shape [T, head_dim] as Hugging Face's LlamaRotaryEmbedding."""
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2).float() / head_dim))
    t = torch.arange(start, start + T, dtype=torch.float32)
    freqs = torch.outer(t, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


class Attention(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.h, self.kvh = c.num_attention_heads, c.num_key_value_heads
        self.d = c.hidden_size // c.num_attention_heads
        self.q_proj = nn.Linear(c.hidden_size, self.h * self.d, bias=False)
        self.k_proj = nn.Linear(c.hidden_size, self.kvh * self.d, bias=False)
        self.v_proj = nn.Linear(c.hidden_size, self.kvh * self.d, bias=False)
        self.o_proj = nn.Linear(self.h * self.d, c.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.h, self.d).transpose(1, 2)    # [B,h,T,d]
        k = self.k_proj(x).view(B, T, self.kvh, self.d).transpose(1, 2)  # [B,kvh,T,d]
        v = self.v_proj(x).view(B, T, self.kvh, self.d).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        if self.kvh != self.h:
            k = k.repeat_interleave(self.h // self.kvh, dim=1)
            v = v.repeat_interleave(self.h // self.kvh, dim=1)
        s = (q @ k.transpose(-1, -2)) / (self.d ** 0.5) + mask
        y = s.softmax(dim=-1) @ v                                         # [B,h,T,d]
        return self.o_proj(y.transpose(1, 2).reshape(B, T, self.h * self.d))


class MLP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.gate_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.self_attn = Attention(c)
        self.mlp = MLP(c)
        self.input_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, c.rms_norm_eps)

    def forward(self, x, cos, sin, mask):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x))


class Model(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = nn.ModuleList([Layer(c) for _ in range(c.num_hidden_layers)])
        self.norm = RMSNorm(c.hidden_size, c.rms_norm_eps)


class LlamaForCausalLM(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.config = c
        self.model = Model(c)
        self.lm_head = nn.Linear(c.hidden_size, c.vocab_size, bias=False)

    def embed(self, ids):
        return self.model.embed_tokens(torch.as_tensor(ids, dtype=torch.long))

    def forward(self, inputs_embeds):
        """inputs_embeds [B,T,hidden] -> logits [B,T,vocab]."""
        return self.lm_head(self.hidden(inputs_embeds))

    def hidden(self, inputs_embeds):
        """inputs_embeds [B,T,hidden] -> final normed hidden states [B,T,hidden]."""
        B, T, _ = inputs_embeds.shape
        c = self.config
        cos, sin = rope(T, c.hidden_size // c.num_attention_heads, c.rope_theta)
        mask = torch.full((T, T), float("-inf")).triu(1)
        x = inputs_embeds
        for layer in self.model.layers:
            x = layer(x, cos, sin, mask)
        return self.model.norm(x)


def save_hf(model, tokenizer_model, folder, dtype=torch.float16):
    """Write a Hugging Face LLaMA folder like Vicuna_Radiology_fp16: config.json,
    pytorch_model.bin (torch.save zip), tokenizer.model, tokenizer_config.json,
    special_tokens_map.json, generation_config.json."""
    os.makedirs(folder, exist_ok=True)
    name = {torch.float16: "float16", torch.float32: "float32", torch.bfloat16: "bfloat16"}[dtype]
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(model.config.hf(name), f, indent=2)
    sd = OrderedDict((k, v.detach().to(dtype).contiguous().clone()) for k, v in model.state_dict().items())
    torch.save(sd, os.path.join(folder, "pytorch_model.bin"))
    with open(tokenizer_model, "rb") as f, open(os.path.join(folder, "tokenizer.model"), "wb") as g:
        g.write(f.read())
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"add_bos_token": True, "add_eos_token": False, "bos_token": "<s>",
                   "eos_token": "</s>", "unk_token": "<unk>", "clean_up_tokenization_spaces": False,
                   "model_max_length": model.config.max_position_embeddings,
                   "tokenizer_class": "LlamaTokenizer", "legacy": True}, f, indent=2)
    with open(os.path.join(folder, "special_tokens_map.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}, f, indent=2)
    with open(os.path.join(folder, "generation_config.json"), "w") as f:
        json.dump({"bos_token_id": 1, "eos_token_id": 2, "pad_token_id": 0}, f, indent=2)


def preprocess(path, size=224):
    """XrayGPT's blip2_image_eval: RGB, Resize((size,size), BICUBIC), /255,
    Normalize(CLIP mean/std). Returns [1,3,size,size] float32."""
    import numpy as np
    from PIL import Image
    img = Image.open(path).convert("RGB").resize((size, size), Image.BICUBIC)
    x = np.asarray(img, dtype=np.float32) / 255.0
    mean = np.array([0.48145466, 0.4578275, 0.40821073], dtype=np.float32)
    std = np.array([0.26862954, 0.26130258, 0.27577711], dtype=np.float32)
    x = (x - mean) / std
    return torch.from_numpy(x.transpose(2, 0, 1).copy()).unsqueeze(0)
