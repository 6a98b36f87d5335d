#!/usr/bin/env python3
"""The typographic-attack loop the Python way, for same-run ratios against `clipscope attack`.

For every image: PIL decode, resize of the shorter side (bicubic) and centre crop to the
model's input, the attack text drawn at the article's 8 places with PIL's ImageDraw
(white, dark stroke), ToTensor + Normalize, then OpenAI's `clip/model.py` image tower on
the clean and the attacked batch and the top-1 of a linear classifier over 1,000
classes -- what the article's and NTUA's notebooks do. Random weights (no checkpoint can
reach this machine); the classifier's weights are random too, the work is the same.

    bench/python_attack_reference.py --clip-repo /path/to/openai/CLIP --images DIR
        [--model RN50] [--attacks 4] [--batch 32] [--threads 2] [--json out.json]

Needs Debian's python3-torch and python3-pil.
"""
import argparse
import glob
import json
import os
import sys
import time

import torch
from PIL import Image, ImageDraw, ImageFont

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_reference import load_model_py  # noqa: E402
from python_reference import SHAPES, TEXT  # noqa: E402

MEAN = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
STD = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)
# The article's places (top-left, fractions of the 288 px crop) and text size.
PLACES = [(21, 24), (71, 49), (21, 74), (71, 99), (121, 124), (171, 149), (121, 174), (171, 199)]


def crop(path, n_px):
    im = Image.open(path).convert("RGB")
    w, h = im.size
    s = n_px / min(w, h)
    im = im.resize((max(n_px, round(w * s)), max(n_px, round(h * s))), Image.BICUBIC)
    w, h = im.size
    left, top = int(round((w - n_px) / 2.0)), int(round((h - n_px) / 2.0))
    return im.crop((left, top, left + n_px, top + n_px))


def to_tensor(im):
    x = torch.frombuffer(bytearray(im.tobytes()), dtype=torch.uint8).view(im.size[1], im.size[0], 3)
    return (x.permute(2, 0, 1).float() / 255 - MEAN) / STD


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip-repo", required=True)
    ap.add_argument("--images", required=True)
    ap.add_argument("--model", default="RN50")
    ap.add_argument("--attacks", type=int, default=4)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--font", default="/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    ap.add_argument("--json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model_py = load_model_py(args.clip_repo, "python_attack_reference")
    model = model_py.CLIP(**SHAPES[args.model], **TEXT).eval()
    n_px = SHAPES[args.model]["image_resolution"]
    classes = torch.randn(1000, SHAPES[args.model]["embed_dim"])
    paths = sorted(p for p in glob.glob(os.path.join(args.images, "**", "*"), recursive=True)
                   if p.lower().endswith((".jpg", ".jpeg", ".png")))
    font = ImageFont.truetype(args.font, round(19.5 / 288 * n_px))
    texts = ["iPod", "pizza", "rifle", "library", "radio", "trash", "meow", "$$$"][: args.attacks]

    def top1(batch):
        f = model.encode_image(torch.stack(batch))
        f = f / f.norm(dim=-1, keepdim=True)
        return (f @ classes.t()).argmax(1)

    start = time.perf_counter()
    pairs = 0
    with torch.no_grad():
        for b in range(0, len(paths), args.batch):
            crops = [crop(p, n_px) for p in paths[b : b + args.batch]]
            top1([to_tensor(c) for c in crops])
            for text in texts:
                attacked = []
                for c in crops:
                    im = c.copy()
                    draw = ImageDraw.Draw(im)
                    for x, y in PLACES:
                        draw.text((x / 288 * n_px, y / 288 * n_px), text, font=font, fill=(255, 255, 255),
                                  stroke_width=max(1, round(2 / 288 * n_px)), stroke_fill=(0, 0, 0))
                    attacked.append(to_tensor(im))
                top1(attacked)
                pairs += len(crops)
    seconds = time.perf_counter() - start
    result = {"model": args.model, "images": len(paths), "attacks": len(texts), "threads": args.threads,
              "seconds": seconds, "image_attacks_per_second": pairs / seconds}
    print(json.dumps(result))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
