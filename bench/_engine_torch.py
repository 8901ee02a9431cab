# The engine benchmark's PyTorch side: same networks, 2 threads, fair OpenMP settings
# (run with OMP_WAIT_POLICY=PASSIVE). Prints one JSON object.
import json, sys
import torch
import torch.nn as nn
import torch.nn.functional as F

from _torch_common import median_ms  # 2 threads, seed 0

class Block(nn.Module):
    def __init__(s, h, heads, f, causal, pre_ln):
        super().__init__()
        s.h, s.heads, s.causal, s.pre_ln = h, heads, causal, pre_ln
        s.qkv = nn.Linear(h, 3 * h); s.o = nn.Linear(h, h)
        s.ln1 = nn.LayerNorm(h); s.ln2 = nn.LayerNorm(h)
        s.fc1 = nn.Linear(h, f); s.fc2 = nn.Linear(f, h)
    def attn(s, x):
        B, T, C = x.shape
        q, k, v = s.qkv(x).split(C, -1)
        q, k, v = [t.view(B, T, s.heads, C // s.heads).transpose(1, 2) for t in (q, k, v)]
        a = (q @ k.transpose(-1, -2)) / (C // s.heads) ** 0.5
        if s.causal:
            a = a.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), -1e9)
        return s.o((a.softmax(-1) @ v).transpose(1, 2).reshape(B, T, C))
    def forward(s, x):
        if s.pre_ln:
            x = x + s.attn(s.ln1(x)); return x + s.fc2(F.gelu(s.fc1(s.ln2(x)), approximate='tanh'))
        x = s.ln1(x + s.attn(x)); return s.ln2(x + s.fc2(F.gelu(s.fc1(x))))

class Net(nn.Module):
    def __init__(s, vocab, h, layers, heads, f, causal, pre_ln, maxpos=512):
        super().__init__()
        s.emb = nn.Embedding(vocab, h); s.pos = nn.Embedding(maxpos, h)
        s.blocks = nn.ModuleList([Block(h, heads, f, causal, pre_ln) for _ in range(layers)])
    def forward(s, ids):
        x = s.emb(ids) + s.pos.weight[: ids.shape[1]]
        for b in s.blocks: x = b(x)
        return x

out = {}
bert = Net(21128, 768, 12, 12, 3072, False, False).eval()
with torch.no_grad():
    for B in (1, 8):
        ids = torch.randint(0, 21128, (B, 128))
        out[f'bert_forward_{B}x128_ms'] = median_ms(lambda: bert(ids), 5 if B == 1 else 3)
lm = Net(100, 256, 2, 4, 1024, True, True)
opt = torch.optim.AdamW(lm.parameters(), lr=1e-3)
ids = torch.randint(0, 100, (8, 128))
def step():
    opt.zero_grad()
    logits = lm(ids) @ lm.emb.weight.t()
    loss = F.cross_entropy(logits.reshape(-1, 100), ids.reshape(-1))
    loss.backward(); opt.step()
out['lm_train_step_ms'] = median_ms(step, 10)
print(json.dumps(out))
