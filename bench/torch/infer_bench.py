"""PyTorch CPU inference latency for the benchmark archs (eval mode), optionally with
pruned channel counts via --widths, e.g. for quickstart: --widths '[20, 41, 97]'.
Run with Debian's torch: /usr/bin/python3 bench/torch/infer_bench.py --arch vgg-small
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.dont_write_bytecode = True  # no __pycache__ inside the repo
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import ARCHS, INPUT_SHAPES, build_model, count_params, default_widths, set_threads  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--arch', choices=ARCHS, default='vgg-small')
    p.add_argument('--batch-size', type=int, default=64)
    p.add_argument('--runs', type=int, default=30, help='timed forward passes (median reported)')
    p.add_argument('--warmup', type=int, default=5)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--widths', type=json.loads, default=None,
                   help='JSON list of channel counts replacing the cfg numbers (see models.default_widths)')
    p.add_argument('--json', action='store_true', help='print one JSON object on stdout')
    args = p.parse_args()

    set_threads(args.threads)
    torch.manual_seed(0)
    widths = args.widths if args.widths is not None else default_widths(args.arch)
    try:
        model = build_model(args.arch, widths).eval()
    except ValueError as err:
        sys.exit(f'error: {err}')
    x = torch.randn((args.batch_size,) + INPUT_SHAPES[args.arch])

    times_ms = []
    with torch.inference_mode():
        for i in range(args.warmup + args.runs):
            start = time.perf_counter()
            model(x)
            if i >= args.warmup:
                times_ms.append((time.perf_counter() - start) * 1000)
    median_ms = statistics.median(times_ms)

    result = {
        'arch': args.arch,
        'batch_size': args.batch_size,
        'threads': args.threads,
        'runs': args.runs,
        'widths': widths,
        'params': count_params(model),
        'median_ms': median_ms,
        'images_per_second': args.batch_size * 1000 / median_ms,
        'torch_version': torch.__version__,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"{args.arch} bs={args.batch_size} threads={args.threads} widths={widths}: "
              f"median {median_ms:.2f} ms/batch ({result['images_per_second']:.0f} images/s, "
              f"{result['params']} params, torch {torch.__version__})")


if __name__ == '__main__':
    main()
