"""Writes golden.json: inputs and PyTorch 1.13 (CPU, float32) outputs for
linalg's LayerNorm, GELU and Softmax tests.

Regenerate from the repository root:
    /usr/bin/python3 linalg/testdata/gen_golden.py
"""
import json, os
import torch

torch.manual_seed(0)
out = {}

# LayerNorm over rows of 37, eps 1e-6 as EVA's blocks; one row far from zero mean.
x = torch.randn(5, 37) * 3
x[4] += 1000.0
ln = torch.nn.LayerNorm(37, eps=1e-6)
with torch.no_grad():
    ln.weight.copy_(torch.randn(37))
    ln.bias.copy_(torch.randn(37))
    y = ln(x)
out["layernorm"] = dict(cols=37, eps=1e-6, x=x.flatten().tolist(), weight=ln.weight.tolist(),
                        bias=ln.bias.tolist(), y=y.flatten().tolist())

# Exact GELU on a spread of values, including the tails.
g = torch.cat([torch.linspace(-10, 10, 401), torch.randn(200) * 4, torch.tensor([0.0, -0.0, 1e-30, -1e-30])])
out["gelu"] = dict(x=g.tolist(), y=torch.nn.functional.gelu(g).tolist())

# Softmax over rows of 50 with large magnitudes and masked (-inf) entries.
s = torch.randn(4, 50) * 10
s[1] += 1e4
s[2, ::3] = float("-inf")
out["softmax"] = dict(cols=50, x=[v if v != float("-inf") else "-inf" for v in s.flatten().tolist()],
                      y=torch.softmax(s, dim=-1).flatten().tolist())

path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden.json")
with open(path, "w") as f:
    json.dump(out, f)
