#!/usr/bin/env python3
"""The Python stack's feature-visualization step on this machine, for same-run ratios
against bench/optvis_bench.

What people run today is lucent (lucid's PyTorch port) on OpenAI's clip/model.py. This
script does the same work as one lucent render step, written directly in PyTorch so
that it needs nothing beyond torch: a Fourier image (sd 0.01, decay 1) with lucid's
colour decorrelation and a sigmoid, lucid's standard transforms (pad 12, jitter 8,
random scale, random rotate, jitter 4), CLIP's normalization, OpenAI's ModifiedResNet
forward to layer4 (random RN50 weights, eval mode, weights frozen), one channel
objective per image, backward to the image, and Adam (lr 0.05).

    /usr/bin/python3 bench/python_optvis_reference.py --clip-repo /path/to/openai/CLIP \
        [--batches 1 8] [--threads 2] [--min-seconds 5] [--channels-last]

Needs Debian's python3-torch (the LibTorch 1.13 clipscope links) and a checkout of
https://github.com/openai/CLIP (only clip/model.py is imported).
"""
import argparse
import math
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_reference import load_model_py  # noqa: E402
import torch.nn.functional as F

MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(1, 3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(1, 3, 1, 1)
COLOR_SVD_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR = COLOR_SVD_SQRT / COLOR_SVD_SQRT.norm(dim=0).max()


class FourierImage:
    def __init__(self, batch, size, sd=0.01, decay_power=1.0):
        fy = torch.fft.fftfreq(size)[:, None]
        fx = torch.fft.rfftfreq(size)[None, :]
        freqs = (fy * fy + fx * fx).sqrt()
        self.scale = (1.0 / freqs.clamp(min=1.0 / size) ** decay_power) * size
        self.spectrum = (sd * torch.randn(batch, 3, size, size // 2 + 1, 2)).requires_grad_(True)
        self.size = size

    def image(self):
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        t = torch.fft.irfft2(spectrum, s=(self.size, self.size)) / 4.0
        t = torch.einsum("bchw,dc->bdhw", t, COLOR)
        return torch.sigmoid(t)


def standard_transforms(x, rng):
    x = F.pad(x, (12, 12, 12, 12), value=0.5)
    for d in (8,):
        oy, ox = rng.randint(0, d), rng.randint(0, d)
        x = x[:, :, oy : x.shape[2] - d + oy, ox : x.shape[3] - d + ox]
    s = rng.choice([1 + (i - 5) / 50 for i in range(11)])
    x = F.interpolate(x, size=(round(x.shape[2] * s), round(x.shape[3] * s)), mode="bilinear", align_corners=False)
    a = math.radians(rng.choice(list(range(-10, 11)) + 5 * [0]))
    theta = torch.tensor([[math.cos(a), -math.sin(a), 0.0], [math.sin(a), math.cos(a), 0.0]]).expand(x.shape[0], 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    oy, ox = rng.randint(0, 4), rng.randint(0, 4)
    return x[:, :, oy : x.shape[2] - 4 + oy, ox : x.shape[3] - 4 + ox]


def layer4(visual, x):
    def stem(x):
        x = visual.relu1(visual.bn1(visual.conv1(x)))
        x = visual.relu2(visual.bn2(visual.conv2(x)))
        x = visual.relu3(visual.bn3(visual.conv3(x)))
        return visual.avgpool(x)

    x = stem(x)
    return visual.layer4(visual.layer3(visual.layer2(visual.layer1(x))))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip-repo", required=True)
    ap.add_argument("--batches", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--min-seconds", type=float, default=5.0)
    ap.add_argument("--channels-last", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model_py = load_model_py(args.clip_repo, "python_optvis_reference")
    torch.manual_seed(0)
    visual = model_py.ModifiedResNet(layers=(3, 4, 6, 3), output_dim=1024, heads=32, input_resolution=224, width=64)
    visual.eval()
    for p in visual.parameters():
        p.requires_grad_(False)
    if args.channels_last:
        visual = visual.to(memory_format=torch.channels_last)
    print(f"torch {torch.__version__}, {args.threads} threads, RN50 random, 224 px, layer4 channel objective")
    for batch in args.batches:
        image = FourierImage(batch, 224)
        adam = torch.optim.Adam([image.spectrum], lr=0.05)
        rng = random.Random(0)
        units = torch.arange(batch)

        def step():
            adam.zero_grad()
            x = (standard_transforms(image.image(), rng) - MEAN) / STD
            if args.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            acts = layer4(visual, x)
            objective = acts[torch.arange(batch), units].mean(dim=(1, 2)).sum()
            (-objective).backward()
            adam.step()

        step()  # warm-up
        steps, start = 0, time.perf_counter()
        while steps < 3 or time.perf_counter() - start < args.min_seconds:
            step()
            steps += 1
        rate = steps / (time.perf_counter() - start)
        print(f"batch {batch}: {rate:.3f} steps/s, {1000 / rate:.1f} ms/step")


if __name__ == "__main__":
    main()
