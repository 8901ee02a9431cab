#!/usr/bin/python3
"""Why dynamic-int8 misses 99% MLM agreement on models/chinese-small: the quantizer simulated in PyTorch.

Development only. The int8 bench writes its masked CSL batches, then this script replays them:

    npm run bench -- int8 --only mlm --mlm-dump /tmp/mlm.json
    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 bench/_int8_simulate.py /tmp/mlm.json [models/chinese-small]

It runs the model (test/fixtures/reference/make_reference.py's BERT, checked against ours) with the
quantizer of src/runtime/quantize.ts simulated: per-column symmetric int8 weights, activations uint8
per tensor as ONNX DynamicQuantizeLinear rounds them. Then it tries what might close the gap:
- bias correction (Nagel et al. 2019): add -E[x] (W_q - W) to each layer, E[x] from the calibration batches;
- SmoothQuant (Xiao et al. 2022): activation channel ranges moved into the weights, alpha 0.5;
- each layer's activations quantized alone, to see whether a few layers carry the loss.
- activations with one range per token (vector-wise, as LLM.int8() and ZeroQuant), int8 symmetric and uint8 asymmetric.
Prints top-1 agreement with fp32 at the masked positions, as the bench counts it.
"""
import json, math, os, struct, sys
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'reference'))
import make_reference as R  # noqa: E402

torch.set_num_threads(1)


def read_weights(path):
    blob = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', blob[:8])
    header = json.loads(blob[8:8 + n])
    header.pop('__metadata__', None)
    data = blob[8 + n:]
    dtypes = {'F16': torch.float16, 'F32': torch.float32}
    out = {}
    for name, info in header.items():
        begin, end = info['data_offsets']
        out[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=dtypes[info['dtype']]).reshape(info['shape']).float()
    return out


def int8_weight(w):  # torch layout [out, in]: one symmetric scale per output (per column of our [K, N])
    s = w.abs().amax(1, keepdim=True).clamp(min=1e-30) / 127
    return (w / s).round().clamp(-127, 127) * s


def uint8_activation(x):  # ONNX DynamicQuantizeLinear: range widened to include 0, per tensor
    lo, hi = min(0.0, x.min().item()), max(0.0, x.max().item())
    s = (hi - lo) / 255 or 1.0
    zp = min(255, max(0, round(-lo / s)))
    return ((torch.round(x / s) + zp).clamp(0, 255) - zp) * s


def int8_activation_per_token(x):  # one symmetric scale per token (row), as LLM.int8()/ZeroQuant's vector-wise quantization
    s = x.abs().amax(-1, keepdim=True).clamp(min=1e-30) / 127
    return (x / s).round().clamp(-127, 127) * s


def uint8_activation_per_token(x):  # DynamicQuantizeLinear's rounding, but one range per token
    lo, hi = x.amin(-1, keepdim=True).clamp(max=0), x.amax(-1, keepdim=True).clamp(min=0)
    s = ((hi - lo) / 255).clamp(min=1e-30)
    zp = torch.round(-lo / s).clamp(0, 255)
    return ((torch.round(x / s) + zp).clamp(0, 255) - zp) * s


class Quantizer:
    def __init__(self):
        self.weights = False      # int8 weights
        self.acts = set()         # layer names whose activations are quantized ('*': all)
        self.correction = {}      # name -> vector added to the layer's output
        self.smooth = {}          # name -> per-input-channel divisor
        self.stats = None         # when a dict: name -> [sum, count, channel absmax] of the layer's inputs
        self.real = None          # rows of the flattened batch that are not padding
        self.cache = {}
        self.activation = uint8_activation

    def matmul(self, name, x, w):
        if self.stats is not None:
            rows = x.reshape(-1, x.shape[-1])[self.real]
            st = self.stats.setdefault(name, [torch.zeros(x.shape[-1], dtype=torch.float64), 0, torch.zeros(x.shape[-1])])
            st[0] += rows.double().sum(0)
            st[1] += rows.shape[0]
            st[2] = torch.maximum(st[2], rows.abs().amax(0))
        if name in self.smooth:
            x, w = x / self.smooth[name], w * self.smooth[name]
        if self.weights:
            key = (name, name in self.smooth)
            if key not in self.cache:
                self.cache[key] = int8_weight(w)
            w = self.cache[key]
        if '*' in self.acts or name in self.acts:
            x = self.activation(x)
        y = x @ w.T
        return y + self.correction[name] if name in self.correction else y


def main():
    batches = json.load(open(sys.argv[1]))
    model_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'models', 'chinese-small')
    W = read_weights(os.path.join(model_dir, 'model.safetensors'))
    cfg = json.load(open(os.path.join(model_dir, 'config.json')))
    eps = cfg['layer_norm_eps']
    Q = Quantizer()
    head_weight = W['bert.embeddings.word_embeddings.weight']

    def linear(W_, name, x):
        y = Q.matmul(name, x, W_[name + '.weight'])
        b = W_.get(name + '.bias')
        return y if b is None else y + b
    R.linear = linear

    def masked_logits(batch):
        ids, am = torch.tensor(batch['input_ids']), torch.tensor(batch['attention_mask'])
        Q.real = am.reshape(-1) == 1
        h = R.bert_trunk(W, 'bert.', cfg, {'input_ids': ids, 'attention_mask': am}, R.padding_allowed(am), 'bert')
        t = R.mlm_transform(W, 'cls.predictions.transform.dense', 'cls.predictions.transform.LayerNorm', R.ACTIVATIONS[cfg['hidden_act']], h, eps)
        logits = Q.matmul('head', t, head_weight) + W['cls.predictions.bias']
        return logits.reshape(-1, logits.shape[-1])[torch.tensor(batch['rows'])]

    def agreement(reference, which):
        same = n = 0
        for ref, batch in zip(reference, which):
            same += (ref.argmax(1) == masked_logits(batch).argmax(1)).sum().item()
            n += ref.shape[0]
        return 100 * same / n

    with torch.no_grad():
        evaluation = batches['eval']
        reference = [masked_logits(b) for b in evaluation]
        Q.stats = {}
        for b in batches['calibration']:
            masked_logits(b)
        stats, Q.stats = Q.stats, None
        names = list(stats)
        weight_of = {n: head_weight if n == 'head' else W[n + '.weight'] for n in names}
        gaps = torch.cat([r.topk(2, 1).values.diff(dim=1).abs().squeeze(1) for r in reference])
        print(f'{len(gaps)} masked positions; fp32 top-1 leads top-2 by < 0.1 logit at {100 * (gaps < 0.1).float().mean():.1f}%')

        def row(label, weights, acts, correction=False, smooth=False, activation=uint8_activation):
            Q.weights, Q.acts, Q.activation = weights, acts, activation
            Q.correction = {}
            Q.smooth = {n: stats[n][2].clamp(min=1e-5).sqrt() / weight_of[n].abs().amax(0).clamp(min=1e-5).sqrt() for n in names} if smooth else {}
            if correction:
                for n in names:
                    w = weight_of[n] * Q.smooth[n] if smooth else weight_of[n]
                    mean = (stats[n][0] / stats[n][1]).float()
                    Q.correction[n] = -((mean / Q.smooth[n] if smooth else mean) @ (int8_weight(w) - w).T)
            print(f'{label:<52} {agreement(reference, evaluation):6.2f}%', flush=True)

        row('dynamic-int8 (int8 weights, uint8 activations)', True, {'*'})
        row('weight-only int8', True, set())
        row('weight-only int8 + bias correction', True, set(), correction=True)
        row('dynamic-int8 + bias correction', True, {'*'}, correction=True)
        row('dynamic-int8 + SmoothQuant 0.5 + bias correction', True, {'*'}, correction=True, smooth=True)
        row('dynamic-int8, activations int8 per token', True, {'*'}, activation=int8_activation_per_token)
        row('dynamic-int8, activations uint8 per token', True, {'*'}, activation=uint8_activation_per_token)
        row('  the same + bias correction', True, {'*'}, correction=True, activation=uint8_activation_per_token)
        print('int8 weights everywhere, one layer\'s activations quantized:')
        for n in names:
            row(f'  {n}', True, {n})


if __name__ == '__main__':
    main()
