#!/usr/bin/env python3
"""Maximal text's hill climbing in OpenAI's Python CLIP, for a same-run ratio against
`clipscope maximal-text` (bench/maxtext_e2e.sh).

The same loop as clipscope's (src/maxtext/maximal_text.cpp), written the way a Python
user would with OpenAI's own clip/model.py: a pool of token sequences; each generation
takes the gradient of the score with respect to the pool's token embeddings, ranks the
vocabulary per position by its first-order gain, mutates the pool (replace, insert,
delete) and scores the children in batches through encode_text at the context length
clip.tokenize gives (77). Random weights of RN50's shapes (speed does not depend on
their values); the target is a random unit vector.

    bench/python_maxtext_reference.py --clip-repo /path/to/openai/CLIP [--generations 5]
        [--threads 2] [--json out.json]
"""
import argparse
import json
import os
import random
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clip_reference import load_model_py  # noqa: E402


def encode_embeddings(model, x, eot):
    """encode_text from token embeddings (N, 77, width), pooled at positions eot."""
    x = x + model.positional_embedding.type(model.dtype)
    x = model.transformer(x.permute(1, 0, 2)).permute(1, 0, 2)
    x = model.ln_final(x).type(model.dtype)
    return x[torch.arange(x.shape[0]), eot] @ model.text_projection


def rows(seqs, sot, eot, context=77):
    t = torch.zeros(len(seqs), context, dtype=torch.long)
    for i, s in enumerate(seqs):
        t[i, 0] = sot
        t[i, 1:len(s) + 1] = torch.tensor(s)
        t[i, len(s) + 1] = eot
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip-repo", required=True)
    ap.add_argument("--generations", type=int, default=5)
    ap.add_argument("--pool", type=int, default=28)
    ap.add_argument("--children", type=int, default=128)
    ap.add_argument("--candidates", type=int, default=16)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--tokens", type=int, default=8)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = random.Random(0)
    m = load_model_py(a.clip_repo, "python_maxtext_reference")
    model = m.CLIP(1024, 224, (3, 4, 6, 3), 64, None, 77, 49408, 512, 8, 12).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    sot, eot, vocab = 49406, 49407, 49406
    target = torch.nn.functional.normalize(torch.randn(1024), dim=0)
    table = model.token_embedding.weight

    def score(seqs):
        out = []
        with torch.no_grad():
            for i in range(0, len(seqs), a.batch):
                e = model.encode_text(rows(seqs[i:i + a.batch], sot, eot))
                out += (torch.nn.functional.normalize(e, dim=1) @ target).tolist()
        return out

    start = time.perf_counter()
    evaluated = 0
    pool = [[rng.randrange(vocab) for _ in range(rng.randint(1, a.tokens))] for _ in range(a.pool)]
    seen = {tuple(s) for s in pool}
    scores = score(pool)
    evaluated += len(pool)
    pool = [s for _, s in sorted(zip(scores, pool), key=lambda p: -p[0])]
    pool_scores = sorted(scores, reverse=True)
    for _ in range(a.generations):
        t = rows(pool, sot, eot)
        x = model.token_embedding(t).detach().requires_grad_(True)
        e = encode_embeddings(model, x, t.argmax(dim=-1))
        (torch.nn.functional.normalize(e, dim=1) @ target).sum().backward()
        # Only the positions a sequence can hold (the start token is position 0).
        gains = x.grad[:, :a.tokens + 1] @ table.t()
        gains[:, :, vocab:] = -1e30
        best = gains.topk(a.candidates, dim=2).indices
        children = []
        tries = 0
        while len(children) < a.children and tries < 4 * a.children:
            tries += 1
            p = rng.randrange(len(pool))
            s = list(pool[p])
            op = rng.random()
            if (op < 0.2 and len(s) < a.tokens) or not s:
                s.insert(rng.randrange(len(s) + 1), rng.randrange(vocab))
            elif op < 0.4 and len(s) > 1:
                del s[rng.randrange(len(s))]
            else:
                i = rng.randrange(len(s))
                s[i] = int(best[p, i + 1, rng.randrange(a.candidates)]) if rng.random() < 0.8 else rng.randrange(vocab)
            if tuple(s) not in seen:
                seen.add(tuple(s))
                children.append(s)
        child_scores = score(children)
        evaluated += len(children)
        merged = sorted(zip(pool_scores + child_scores, pool + children), key=lambda p: -p[0])[:a.pool]
        pool_scores, pool = [s for s, _ in merged], [q for _, q in merged]
    seconds = time.perf_counter() - start
    result = {"evaluated": evaluated, "seconds": seconds, "texts_per_second": evaluated / seconds,
              "best": pool_scores[0], "threads": a.threads, "torch": torch.__version__}
    print(json.dumps(result))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main()
