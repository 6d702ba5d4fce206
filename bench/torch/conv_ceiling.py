"""Forward conv throughput of PyTorch CPU on given NHWC shapes: the per-MAC speed slim's wasm
kernels are compared with in bench/ceiling.ts.

  /usr/bin/python3 bench/torch/conv_ceiling.py --threads 1 --runs 20 --shapes '[[64,14,14,32,64,3,1]]'

Each shape is [batch, H, W, Cin, Cout, k, stride] ('same' padding, no bias). Prints one JSON list
on stdout: the median milliseconds of each shape's forward conv (input NCHW, as torch models run).
"""
import argparse
import json
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.dont_write_bytecode = True


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--shapes', type=json.loads, required=True)
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--runs', type=int, default=20)
    p.add_argument('--warmup', type=int, default=3)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    out = []
    with torch.no_grad():
        for b, h, w, ci, co, k, s in args.shapes:
            x = torch.randn(b, ci, h, w)
            wt = torch.randn(co, ci, k, k)
            for _ in range(args.warmup):
                F.conv2d(x, wt, stride=s, padding=k // 2)
            times = []
            for _ in range(args.runs):
                t = time.perf_counter()
                F.conv2d(x, wt, stride=s, padding=k // 2)
                times.append((time.perf_counter() - t) * 1000)
            out.append(statistics.median(times))
    print(json.dumps(out))


if __name__ == '__main__':
    main()
