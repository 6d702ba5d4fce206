"""Network Slimming (Liu et al. 2017) in PyTorch: the reference slim's accuracy is compared with.

Follows the paper's procedure on a VGG-style CNN with BN:
  1. sparsity training: cross-entropy, and lambda * sign(gamma) added to every BN weight's gradient
     after backward (before the SGD step, so weight decay is added on top, as the paper's code);
  2. one global threshold over all |gamma|: the floor(ratio * N) smallest channels are pruned
     (stable sort, ties by layer then channel index; every layer keeps at least 1 channel);
  3. a smaller model is rebuilt by copying the kept channels (conv output channels, BN, the next
     conv's input channels or the classifier's input columns) and fine-tuned.

Usage: /usr/bin/python3 bench/torch/slimming_ref.py --job JOB.json   (JSON result on stdout)

The job (written by bench/accuracy.ts) fixes everything slim used: architecture, initial weights
(raw little-endian float32 files in tfjs layout + an index), per-epoch example orders (uint32
files), preprocessing, epochs, lr schedule, momentum, weight decay, lambda and ratios.
With `baseline` (hyper-parameters like `train`) it first trains a plain copy (lambda = 0) from the
same initial weights: the unpruned baseline the paper compares against.
Without `init` / `orders` in the job the script draws its own (for quick standalone tuning).
With `countOnly: [[w1, w2, ...], ...]` it only prints [{params, trainable, macs}] of models with
those conv widths (used to check that slim's counts equal torch's for the widths slim kept).
Only the 'gap' head is supported (GAP -> Linear), which avoids NHWC/NCHW flatten ordering.
"""
import argparse
import gzip
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- data

def read_idx(path):
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path, 'rb') as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack('>HBB', raw[:4])
    if zero != 0 or dtype != 0x08:
        raise ValueError(f'{path}: not a uint8 IDX file')
    dims = struct.unpack('>' + 'I' * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_split(data_dir, prefix, limit, preprocess):
    images = read_idx(os.path.join(data_dir, f'{prefix}-images-idx3-ubyte.gz'))
    labels = read_idx(os.path.join(data_dir, f'{prefix}-labels-idx1-ubyte.gz')).astype(np.int64)
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    # Same arithmetic as slim's Dataset.batches: x = u8 * (scale/std) + (-mean/std), in double, stored as float32.
    mul = preprocess['scale'] / preprocess['std'][0]
    add = -preprocess['mean'][0] / preprocess['std'][0]
    x = (images.astype(np.float64) * mul + add).astype(np.float32)
    return torch.from_numpy(x).unsqueeze(1), torch.from_numpy(labels)  # NCHW, C = 1


# ---------------------------------------------------------------- model

class Vgg(nn.Module):
    """cfg numbers: Conv3x3 pad 1 (no bias) -> BN -> ReLU; 'M': MaxPool 2x2; then GAP -> Linear."""

    def __init__(self, cfg, widths, in_ch, num_classes, bn_eps, bn_momentum):
        super().__init__()
        layers, widths = [], list(widths)
        self.convs, self.bns = [], []
        k = 0
        for item in cfg:
            if item == 'M':
                layers.append(nn.MaxPool2d(2))
                continue
            conv = nn.Conv2d(in_ch, widths[k], 3, 1, 1, bias=False)
            bn = nn.BatchNorm2d(widths[k], eps=bn_eps, momentum=bn_momentum)
            layers += [conv, bn, nn.ReLU(inplace=True)]
            self.convs.append(conv)
            self.bns.append(bn)
            in_ch = widths[k]
            k += 1
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(in_ch, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x).mean(dim=(2, 3)))


def load_init(model, index_path):
    """tfjs weights -> torch: conv kernel HWIO -> OIHW, dense [in, out] -> [out, in]."""
    with open(index_path) as f:
        index = json.load(f)
    base = os.path.dirname(index_path)
    weights = {}
    for entry in index['weights']:
        data = np.fromfile(os.path.join(base, entry['file']), dtype='<f4').reshape(entry['shape'])
        weights[entry['name']] = torch.from_numpy(data.copy())
    used = set()

    def take(name):
        used.add(name)
        return weights[name]

    with torch.no_grad():
        for i, (conv, bn) in enumerate(zip(model.convs, model.bns), start=1):
            conv.weight.copy_(take(f'conv{i}/kernel').permute(3, 2, 0, 1))
            bn.weight.copy_(take(f'bn{i}/gamma'))
            bn.bias.copy_(take(f'bn{i}/beta'))
            bn.running_mean.copy_(take(f'bn{i}/moving_mean'))
            bn.running_var.copy_(take(f'bn{i}/moving_variance'))
        model.classifier.weight.copy_(take('classifier/kernel').t())
        model.classifier.bias.copy_(take('classifier/bias'))
    unused = set(weights) - used
    if unused:
        raise ValueError(f'{index_path}: weights not used by the torch model: {sorted(unused)}')


def count(model, in_shape):
    """Params (trainable, plus BN running mean/var as Keras counts them) and MACs of one image.

    MACs: conv = H_out * W_out * C_out * C_in * kh * kw, linear = in * out (measured with hooks).
    """
    trainable = sum(p.numel() for p in model.parameters())
    bn_stats = sum(bn.running_mean.numel() + bn.running_var.numel() for bn in model.bns)
    macs = [0]

    def hook(module, inputs, output):
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs[0] += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            macs[0] += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, *in_shape))
    model.train(was_training)
    for h in handles:
        h.remove()
    return {'params': trainable + bn_stats, 'trainable': trainable, 'macs': macs[0]}


# ---------------------------------------------------------------- training

def lr_at(epoch, base, total, milestones, gamma):
    """slim's src/train/schedule.ts lrAt: multiply by gamma once epoch >= m * total."""
    lr = base
    for m in milestones:
        if epoch >= m * total - 1e-9:
            lr *= gamma
    return lr


def evaluate(model, x, y, batch=1000):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(y), batch):
            correct += (model(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum().item()
    return correct / len(y)


def train(model, x, y, hp, lam, orders, label):
    opt = torch.optim.SGD(model.parameters(), lr=hp['lr'], momentum=hp['momentum'], weight_decay=hp['weightDecay'])
    bs = hp['batchSize']
    for epoch in range(hp['epochs']):
        lr = lr_at(epoch, hp['lr'], hp['epochs'], hp['milestones'], hp['gamma'])
        for g in opt.param_groups:
            g['lr'] = lr
        order = orders(epoch)
        model.train()
        started, loss_sum, correct = time.time(), 0.0, 0
        for start in range(0, len(order), bs):
            idx = order[start:start + bs]
            xb, yb = x[idx], y[idx]
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            if lam > 0:
                for bn in model.bns:
                    bn.weight.grad.add_(lam * torch.sign(bn.weight.data))
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
        gammas = torch.cat([bn.weight.detach().abs() for bn in model.bns])
        log(f'  torch {label} epoch {epoch + 1}/{hp["epochs"]}: lr {lr:.3g}, loss {loss_sum / len(order):.4f}, '
            f'train acc {100 * correct / len(order):.2f}%, |gamma| mean {gammas.mean().item():.3g}, '
            f'<1e-2 {100 * (gammas < 1e-2).float().mean().item():.1f}%, {time.time() - started:.1f} s')


# ---------------------------------------------------------------- pruning

def plan_keep(model, ratio, min_channels=1):
    """Kept channel indices per BN layer: one global |gamma| ranking, floor(ratio * N) pruned."""
    gammas = [bn.weight.detach().abs().numpy().astype(np.float64) for bn in model.bns]
    flat = np.concatenate(gammas)
    layer_of = np.concatenate([np.full(len(g), i) for i, g in enumerate(gammas)])
    chan_of = np.concatenate([np.arange(len(g)) for g in gammas])
    k = int(math.floor(ratio * len(flat)))
    ranked = np.argsort(flat, kind='stable')  # stable: ties stay in (layer, channel) order
    pruned = [set() for _ in gammas]
    for j in ranked[:k]:
        pruned[layer_of[j]].add(int(chan_of[j]))
    threshold = float(flat[ranked[min(k, len(flat) - 1)]])
    keep = []
    for i, g in enumerate(gammas):
        kept = [c for c in range(len(g)) if c not in pruned[i]]
        floor = min(len(g), min_channels)
        # A layer left with fewer than the floor gets its most important pruned channels back.
        back = sorted(pruned[i], key=lambda c: (-g[c], c))
        while len(kept) < floor:
            kept.append(back.pop(0))
        keep.append(sorted(kept))
    return keep, threshold


def rebuild(model, keep, spec):
    """A smaller Vgg holding copies of the kept channels' weights."""
    small = Vgg(spec['cfg'], [len(k) for k in keep], 1, spec['numClasses'], spec['bnEpsilon'], spec['bnMomentum'])
    prev = torch.arange(1)  # input channels kept by the first conv: the one image channel
    with torch.no_grad():
        for conv, bn, small_conv, small_bn, kept in zip(model.convs, model.bns, small.convs, small.bns, keep):
            out_idx = torch.tensor(kept, dtype=torch.long)
            small_conv.weight.copy_(conv.weight[out_idx][:, prev])
            for name in ('weight', 'bias', 'running_mean', 'running_var'):
                getattr(small_bn, name).copy_(getattr(bn, name)[out_idx])
            small_bn.num_batches_tracked.copy_(bn.num_batches_tracked)
            prev = out_idx
        small.classifier.weight.copy_(model.classifier.weight[:, prev])
        small.classifier.bias.copy_(model.classifier.bias)
    return small


# ---------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--job', required=True, help='job JSON written by bench/accuracy.ts')
    args = ap.parse_args()
    with open(args.job) as f:
        job = json.load(f)
    threads = job.get('threads', 1)
    torch.set_num_threads(threads)
    torch.manual_seed(job.get('seed', 0))
    spec = job['model']
    if spec.get('head', 'gap') != 'gap':
        raise SystemExit('slimming_ref.py: only the gap head is supported')
    if job.get('countOnly') is not None:
        # Params/MACs of torch models with the given kept widths (e.g. slim's), nothing trained.
        shape = tuple(job.get('inputShape', [1, 28, 28]))
        print(json.dumps([count(Vgg(spec['cfg'], w, shape[0], spec['numClasses'], spec['bnEpsilon'], spec['bnMomentum']), shape)
                          for w in job['countOnly']]))
        return

    t0 = time.time()
    x_train, y_train = load_split(job['dataDir'], 'train', job.get('trainLimit'), job['preprocess'])
    x_test, y_test = load_split(job['dataDir'], 't10k', job.get('testLimit'), job['preprocess'])
    log(f'torch {torch.__version__}, {threads} thread(s): {len(y_train)} train / {len(y_test)} test')

    widths = [c for c in spec['cfg'] if c != 'M']
    model = Vgg(spec['cfg'], widths, 1, spec['numClasses'], spec['bnEpsilon'], spec['bnMomentum'])
    if job.get('init'):
        load_init(model, job['init'])
    in_shape = (1, x_train.shape[2], x_train.shape[3])
    if job.get('float64'):
        # Diagnostics only: a float64 run shows how far float32 rounding alone moves the weights.
        torch.set_default_dtype(torch.float64)
        model.double()
        x_train, x_test = x_train.double(), x_test.double()

    order_files = job.get('orders') or []
    gen = torch.Generator().manual_seed(job.get('seed', 0))
    drawn = {}

    def orders(epoch):
        if epoch < len(order_files):
            o = np.fromfile(order_files[epoch], dtype='<u4').astype(np.int64)
            if len(o) != len(y_train):
                raise ValueError(f'{order_files[epoch]}: {len(o)} indices for {len(y_train)} examples')
            return torch.from_numpy(o)
        if epoch not in drawn:
            drawn[epoch] = torch.randperm(len(y_train), generator=gen)
        return drawn[epoch]

    result = {'torch': torch.__version__, 'threads': threads}
    if job.get('baseline'):
        # The plainly trained baseline (lambda = 0): the same initial weights, orders and schedule
        # as the sparsity training, in its own copy of the model.
        plain = Vgg(spec['cfg'], widths, 1, spec['numClasses'], spec['bnEpsilon'], spec['bnMomentum'])
        if job.get('float64'):
            plain.double()
        plain.load_state_dict(model.state_dict())
        t = time.time()
        train(plain, x_train, y_train, job['baseline'], 0.0, orders, 'plain train')
        result['plain'] = {**count(plain, in_shape), 'accuracy': evaluate(plain, x_test, y_test),
                           'seconds': time.time() - t}
        log(f'  torch plainly trained baseline: test accuracy {100 * result["plain"]["accuracy"]:.2f}%')
        del plain
    t = time.time()
    train(model, x_train, y_train, job['train'], job['lambda'], orders, 'sparsity train')
    result['trainSeconds'] = time.time() - t
    if job.get('dumpWeights'):
        # The sparsity-trained weights in tfjs names and layout (HWIO, [in, out]), for step-level comparisons.
        dump = {}
        for i, (conv, bn) in enumerate(zip(model.convs, model.bns), start=1):
            dump[f'conv{i}/kernel'] = conv.weight.detach().permute(2, 3, 1, 0).numpy()
            dump[f'bn{i}/gamma'] = bn.weight.detach().numpy()
            dump[f'bn{i}/beta'] = bn.bias.detach().numpy()
            dump[f'bn{i}/moving_mean'] = bn.running_mean.numpy()
            dump[f'bn{i}/moving_variance'] = bn.running_var.numpy()
        dump['classifier/kernel'] = model.classifier.weight.detach().t().numpy()
        dump['classifier/bias'] = model.classifier.bias.detach().numpy()
        np.savez(job['dumpWeights'], **{k.replace('/', '__'): v for k, v in dump.items()})
    base_count = count(model, in_shape)
    result['baseline'] = {**base_count, 'accuracy': evaluate(model, x_test, y_test), 'kept': widths}
    result['gammas'] = [bn.weight.detach().tolist() for bn in model.bns]
    log(f'  torch unpruned (sparsity-trained): test accuracy {100 * result["baseline"]["accuracy"]:.2f}%')

    result['ratios'] = []
    for ratio in job['ratios']:
        keep, threshold = plan_keep(model, ratio)
        small = rebuild(model, keep, spec)
        row = {'ratio': ratio, 'threshold': threshold, 'kept': [len(k) for k in keep], **count(small, in_shape)}
        row['pruned'] = evaluate(small, x_test, y_test)
        t = time.time()
        train(small, x_train, y_train, job['finetune'], 0.0, orders, f'fine-tune r={ratio}')
        row['finetuneSeconds'] = time.time() - t
        row['finetuned'] = evaluate(small, x_test, y_test)
        log(f'  torch ratio {ratio}: kept {row["kept"]}, pruned {100 * row["pruned"]:.2f}%, fine-tuned {100 * row["finetuned"]:.2f}%')
        result['ratios'].append(row)
    result['seconds'] = time.time() - t0
    print(json.dumps(result))


if __name__ == '__main__':
    main()
