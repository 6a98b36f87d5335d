#!/usr/bin/env python3
"""The circuits tools in Python, written the way Captum's circuits code does them over
OpenAI's own clip/model.py, for a same-run ratio against `clipscope expanded-weights`
and `clipscope contributions` (bench/circuits_e2e.sh).

expanded weights (captum.optim's extract_expanded_weights): the image tower's ReLU
modules replaced by the identity, one forward on a grey image with forward hooks on the
two points, then one autograd.grad per unit of the later point (retain_graph), from its
centre cell to the whole earlier point, stacked into (units, inputs, height, width).

contributions (gradient x activation, Captum's LayerGradientXActivation written out): for
batches of images, a forward with hooks on both points, the unit's spatial mean summed
over the batch, its gradient with respect to the earlier point times that point, summed
over positions: (images, inputs), then averaged over the images.

Both read the same checkpoint clipscope does (bench/random_checkpoint: a torch.save state
dict with OpenAI's key names) and write their results as .npy so the script can compare
them with clipscope's.

    bench/python_circuits_reference.py --clip-repo CLIP --checkpoint rn50.pt --from-block 1
        --to-block 2 [--unit 34] [--images LIST] [--batch 32] [--threads 2] [--json out.json]
        [--out DIR]      (--unit auto: the unit most active on the first batch)
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_reference import load_model_py  # noqa: E402


def preprocess(path, size=224):
    """clip's preprocess: bicubic resize of the short side, centre crop, normalize."""
    from PIL import Image
    image = Image.open(path).convert("RGB")
    w, h = image.size
    scale = size / min(w, h)
    image = image.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.BICUBIC)
    w, h = image.size
    left, top = (w - size) // 2, (h - size) // 2
    image = image.crop((left, top, left + size, top + size))
    x = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean = torch.tensor([0.48145466, 0.4578275, 0.40821073]).view(3, 1, 1)
    std = torch.tensor([0.26862954, 0.26130258, 0.27577711]).view(3, 1, 1)
    return (x - mean) / std


def hooked(modules):
    """Forward hooks that keep each module's output."""
    out, handles = {}, []
    for name, module in modules.items():
        handles.append(module.register_forward_hook(lambda m, i, o, name=name: out.__setitem__(name, o)))
    return out, handles


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip-repo", required=True)
    ap.add_argument("--checkpoint", required=True)
    ap.add_argument("--stage", type=int, default=4)
    ap.add_argument("--from-block", type=int, default=1)
    ap.add_argument("--to-block", type=int, default=2)
    ap.add_argument("--unit", default="auto", help="the later unit, or auto: the most active on the first batch")
    ap.add_argument("--images", help="a file listing image paths, one per line")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json")
    ap.add_argument("--out", help="write expanded_weights.npy and contributions.npy here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    m = load_model_py(a.clip_repo, "python_circuits_reference")
    model = m.CLIP(1024, 224, (3, 4, 6, 3), 64, None, 77, 49408, 512, 8, 12).eval()
    state = torch.load(a.checkpoint, map_location="cpu")
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True)
    stage = getattr(model.visual, f"layer{a.stage}")
    points = {"from": stage[a.from_block], "to": stage[a.to_block]}
    result = {"torch": torch.__version__, "threads": a.threads}

    # Expanded weights: ReLUs as the identity (Captum asks for the nonlinear layers to be replaced).
    relus = [(parent, name) for parent in model.visual.modules() for name, child in parent.named_children()
             if isinstance(child, torch.nn.ReLU)]
    originals = [getattr(parent, name) for parent, name in relus]
    for parent, name in relus:
        setattr(parent, name, torch.nn.Identity())
    start = time.perf_counter()
    acts, handles = hooked(points)
    model.encode_image(torch.zeros(1, 3, 224, 224))
    a1, a2 = acts["from"], acts["to"]
    center = a2[:, :, (a2.size(2) - 1) // 2, (a2.size(3) - 1) // 2]
    kernels = []
    for i in range(a2.size(1)):
        g = torch.autograd.grad(outputs=center[:, i], inputs=[a1], grad_outputs=torch.ones_like(center[:, i]),
                                retain_graph=True)[0]
        kernels.append(g.squeeze(0))
    weights = torch.stack(kernels, 0)
    result["expanded_seconds"] = time.perf_counter() - start
    result["expanded_shape"] = list(weights.shape)
    for h in handles:
        h.remove()
    for (parent, name), relu in zip(relus, originals):
        setattr(parent, name, relu)
    if a.out:
        np.save(os.path.join(a.out, "expanded_weights.npy"), weights.numpy())
    del weights, kernels, acts, a1, a2, center

    # Contributions of every unit of the earlier point to the later point's unit.
    if a.images:
        paths = [line.strip() for line in open(a.images) if line.strip()]
        for p in model.parameters():
            p.requires_grad_(False)
        if a.unit == "auto":  # a random network leaves many units off: take one that is on
            acts, handles = hooked(points)
            with torch.no_grad():
                model.encode_image(torch.stack([preprocess(p) for p in paths[:a.batch]]))
            for h in handles:
                h.remove()
            a.unit = int(acts["to"].mean(dim=(0, 2, 3)).argmax())
        a.unit = int(a.unit)
        result["unit"] = a.unit
        start = time.perf_counter()
        total = None
        for b in range(0, len(paths), a.batch):
            x = torch.stack([preprocess(p) for p in paths[b:b + a.batch]])
            acts, handles = hooked(points)
            x.requires_grad_(True)  # the hooked points are in the graph only if something before them requires grad
            model.encode_image(x)
            for h in handles:
                h.remove()
            value = acts["to"][:, a.unit].mean(dim=(1, 2))
            g = torch.autograd.grad(value.sum(), acts["from"])[0]
            c = (g * acts["from"]).sum(dim=(2, 3)).detach()
            total = c.sum(0) if total is None else total + c.sum(0)
        result["contributions_seconds"] = time.perf_counter() - start
        result["images"] = len(paths)
        if a.out:
            np.save(os.path.join(a.out, "contributions.npy"), (total / len(paths)).numpy())
    print(json.dumps(result))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
