#!/usr/bin/env python3
"""CLIP-Dissect's own soft-WPMI (similarity.py of a CLIP-Dissect checkout, imported as is)
on the matrices bench/labels_similarity_bench generates, for bench/labels_e2e.sh's
same-run ratio: PyTorch's generator seeded as LibTorch's is gives the same numbers.

    bench/python_labels_reference.py --clip-dissect CHECKOUT IMAGES UNITS CONCEPTS SEED OUT_DIR

Writes OUT_DIR/python.json (seconds, peak and input memory) and python_top1.npy.
Environment: THREADS (default 2).
Needs Debian's python3-torch, python3-numpy and the modules similarity.py imports
(python3-tqdm, python3-scipy, python3-matplotlib).
"""
import argparse
import json
import os
import resource
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_reference import load_file_module  # noqa: E402


def resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip-dissect", required=True)
    for name in ("images", "units", "concepts", "seed"):
        ap.add_argument(name, type=int)
    ap.add_argument("out")
    a = ap.parse_args()
    similarity = load_file_module(os.path.join(a.clip_dissect, "similarity.py"), "clip_dissect_similarity",
                                  "python_labels_reference", "--clip-dissect must be a CLIP-Dissect checkout")

    torch.set_num_threads(int(os.environ.get("THREADS", "2")))
    torch.manual_seed(a.seed)
    clip_feats = torch.randn(a.images, a.concepts).mul_(0.05).add_(0.2)
    target_feats = torch.randn(a.images, a.units)
    inputs = resident_mb()
    start = time.perf_counter()
    scores = similarity.soft_wpmi(clip_feats, target_feats, device="cpu")
    seconds = time.perf_counter() - start
    np.save(os.path.join(a.out, "python_top1.npy"), scores.argmax(1).float().numpy())
    result = {"seconds": seconds, "inputs_mb": inputs, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "threads": torch.get_num_threads(), "torch": torch.__version__}
    with open(os.path.join(a.out, "python.json"), "w") as f:
        json.dump(result, f)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
