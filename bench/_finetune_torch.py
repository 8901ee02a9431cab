# The finetune benchmark's PyTorch side: the same BERT (4 layers, hidden 256, post-LN) fine-tuning
# steps, 2 threads (run with OMP_WAIT_POLICY=PASSIVE). argv: reps, task (classify | unilm), vocabulary size.
# Prints one JSON object.
import json, sys
import torch
import torch.nn as nn
import torch.nn.functional as F

from _torch_common import median_ms  # 2 threads, seed 0
REPS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
H, L, HEADS, FFN, B, T = 256, 4, 4, 1024, 32, 64

class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.qkv = nn.Linear(H, 3 * H); s.o = nn.Linear(H, H); s.ln1 = nn.LayerNorm(H); s.ln2 = nn.LayerNorm(H)
        s.fc1 = nn.Linear(H, FFN); s.fc2 = nn.Linear(FFN, H); s.drop = nn.Dropout(0.1)
    def forward(s, x, bias):
        b, t, c = x.shape
        q, k, v = [u.view(b, t, HEADS, c // HEADS).transpose(1, 2) for u in s.qkv(x).split(c, -1)]
        a = ((q @ k.transpose(-1, -2)) / (c // HEADS) ** 0.5 + bias).softmax(-1)
        x = s.ln1(x + s.drop(s.o((s.drop(a) @ v).transpose(1, 2).reshape(b, t, c))))
        return s.ln2(x + s.drop(s.fc2(F.gelu(s.fc1(x)))))

class Bert(nn.Module):
    def __init__(s, vocab, unilm):
        super().__init__()
        s.unilm = unilm
        s.word = nn.Embedding(vocab, H); s.pos = nn.Embedding(512, H); s.segment = nn.Embedding(2, H); s.ln = nn.LayerNorm(H)
        s.blocks = nn.ModuleList([Block() for _ in range(L)])
        if unilm:
            s.mlm = nn.Linear(H, H); s.mlm_ln = nn.LayerNorm(H); s.bias = nn.Parameter(torch.zeros(vocab))
        else:
            s.pool = nn.Linear(H, H); s.cls = nn.Linear(H, 2)
    def forward(s, ids, seg, labels):
        x = s.ln(s.word(ids) + s.pos.weight[: ids.shape[1]] + s.segment(seg))
        if s.unilm:  # bert4keras UniLM mask: position j is visible from i when cumsum(seg)[j] <= cumsum(seg)[i]
            c = seg.cumsum(1)
            bias = torch.where(c[:, None, :] <= c[:, :, None], 0.0, -1e12)[:, None]
        else:
            bias = torch.zeros(1)
        for blk in s.blocks: x = blk(x, bias)
        if s.unilm:
            logits = s.mlm_ln(F.gelu(s.mlm(x))) @ s.word.weight.t() + s.bias
            return F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), labels[:, 1:].reshape(-1), ignore_index=-100)
        return F.cross_entropy(s.cls(torch.tanh(s.pool(x[:, 0]))), labels)

task, vocab = (sys.argv[2], int(sys.argv[3])) if len(sys.argv) > 3 else ('classify', 21128)
m = Bert(vocab, task == 'unilm').train()
opt = torch.optim.AdamW(m.parameters(), lr=1e-4)
ids = torch.randint(0, vocab, (B, T))
seg = torch.cat([torch.zeros(B, T // 2, dtype=torch.long), torch.ones(B, T // 2, dtype=torch.long)], 1) if task == 'unilm' else torch.zeros(B, T, dtype=torch.long)
labels = torch.where(seg == 1, ids, -100) if task == 'unilm' else torch.randint(0, 2, (B,))
def step():
    opt.zero_grad(); m(ids, seg, labels).backward(); opt.step()
print(json.dumps({f'{task}_{vocab}_ms': median_ms(step, REPS)}))
