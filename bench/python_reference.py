#!/usr/bin/env python3
"""OpenAI's Python CLIP on this machine, for same-run ratios against clipscope_bench.

Times the image tower of OpenAI's own `clip/model.py` (random weights, eval mode,
torch.no_grad) at the shapes clipscope_bench uses, the way people run it: fp32
(what clip.load gives on CPU), fp32 channels-last, and bf16 channels-last.

    bench/python_reference.py --clip-repo /path/to/openai/CLIP [--models RN50 ViT-B/32]
        [--batches 1 32] [--threads 2] [--json out.json]

Needs Debian's python3-torch (the same LibTorch 1.13 that clipscope links) and a
checkout of https://github.com/openai/CLIP; only its clip/model.py is imported
(directly, so none of the package's other dependencies are needed).
"""
import argparse
import copy
import json
import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_reference import load_model_py  # noqa: E402

# build_model's hyperparameters for the released shapes (clip/model.py CLIP.__init__ order).
SHAPES = {
    "RN50": dict(embed_dim=1024, image_resolution=224, vision_layers=(3, 4, 6, 3), vision_width=64, vision_patch_size=None),
    "RN50x4": dict(embed_dim=640, image_resolution=288, vision_layers=(4, 6, 10, 6), vision_width=80, vision_patch_size=None),
    "ViT-B/32": dict(embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=32),
}
TEXT = dict(context_length=77, vocab_size=49408, transformer_width=512, transformer_heads=8, transformer_layers=12)


def images_per_second(fn, x, min_seconds, min_iters):
    with torch.no_grad():
        fn(x)  # warm-up
        iters, start = 0, time.perf_counter()
        while iters < min_iters or time.perf_counter() - start < min_seconds:
            fn(x)
            iters += 1
        return x.shape[0] * iters / (time.perf_counter() - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip-repo", required=True)
    ap.add_argument("--models", nargs="+", default=["RN50", "RN50x4", "ViT-B/32"])
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 32])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--min-seconds", type=float, default=3.0)
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model_py = load_model_py(args.clip_repo, "python_reference")
    rows = []
    for name in args.models:
        torch.manual_seed(0)
        visual = model_py.CLIP(**SHAPES[name], **TEXT).eval().visual
        res = SHAPES[name]["image_resolution"]
        for batch in args.batches:
            x = torch.randn(batch, 3, res, res)
            cl = torch.channels_last
            # Module.to() and .bfloat16() convert in place: each variant gets its own copy.
            variants = [
                ("fp32", visual, x),
                ("fp32_channels_last", copy.deepcopy(visual).to(memory_format=cl), x.contiguous(memory_format=cl)),
                ("bf16_channels_last", copy.deepcopy(visual).to(memory_format=cl).bfloat16(),
                 x.contiguous(memory_format=cl).bfloat16()),
            ]
            for variant, module, inp in variants:
                try:
                    rate = images_per_second(module, inp, args.min_seconds if batch == 1 else 0, 2 if batch > 1 else 3)
                except RuntimeError as e:  # e.g. OpenAI's fp32-upcasting LayerNorm on bf16 weights (ViT)
                    rows.append(dict(model=name, batch=batch, variant=variant, error=str(e).splitlines()[0]))
                    print(f"{name:9s} batch {batch:3d} {variant:20s}   fails: {rows[-1]['error']}", flush=True)
                    continue
                rows.append(dict(model=name, batch=batch, variant=variant, images_per_s=rate))
                print(f"{name:9s} batch {batch:3d} {variant:20s} {rate:8.2f} img/s", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(torch=torch.__version__, threads=args.threads, rows=rows), f, indent=1)


if __name__ == "__main__":
    main()
