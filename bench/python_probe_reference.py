#!/usr/bin/env python3
"""The sparse probe's Python reference: scikit-learn's L1 multinomial logistic regression
(solver="saga", the solver scikit-learn offers for a multinomial L1 penalty) along the same
regularization path as `clipscope probe`, on the same data, on the same machine.

    bench/python_probe_reference.py --data DIR [--rows N --units D --classes C] [--path P]

Writes DIR/features.npy, DIR/features.paths.txt and DIR/labels.csv when DIR has none
(synthetic: ReLU noise with three planted units per class and one unit per group of ten
classes), then fits the path from lambda_max down, warm-started, until the mean number of
non-zero weights per class reaches --target, and prints one JSON line per lambda and a
summary line. clipscope minimizes mean cross-entropy + lambda * |W|_1 on standardized
features; scikit-learn minimizes C * sum cross-entropy + |W|_1, so C = 1 / (lambda * N).
"""
import argparse
import json
import os
import resource
import time

import numpy as np


def make_data(path, rows, units, classes, seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, classes, rows)
    x = np.maximum(rng.standard_normal((rows, units), dtype=np.float32), 0)
    own = rng.choice(units, size=(classes, 3))
    group = rng.choice(units, size=(classes + 9) // 10)
    x[np.arange(rows)[:, None], own[labels]] += 1.5
    x[np.arange(rows), group[labels // 10]] += 1.0
    np.save(os.path.join(path, "features.npy"), x)
    with open(os.path.join(path, "features.paths.txt"), "w") as f:
        f.writelines(f"row{i}\n" for i in range(rows))
    with open(os.path.join(path, "labels.csv"), "w") as f:
        f.write("path,class\n")
        f.writelines(f"row{i},class{labels[i]}\n" for i in range(rows))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--rows", type=int, default=10000)
    ap.add_argument("--units", type=int, default=512)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--path", type=int, default=20)
    ap.add_argument("--min-ratio", type=float, default=1e-3)
    ap.add_argument("--target", type=float, default=3)
    ap.add_argument("--tol", type=float, default=1e-4)
    ap.add_argument("--max-iter", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    os.makedirs(args.data, exist_ok=True)
    if not os.path.exists(os.path.join(args.data, "features.npy")):
        make_data(args.data, args.rows, args.units, args.classes, args.seed)
    if args.path == 0:
        return

    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    warnings.simplefilter("ignore", ConvergenceWarning)
    x = np.load(os.path.join(args.data, "features.npy"))
    with open(os.path.join(args.data, "labels.csv")) as f:
        next(f)
        names = [line.strip().split(",")[1] for line in f]
    order = {}
    y = np.array([order.setdefault(n, len(order)) for n in names])  # classes in order of appearance, as clipscope
    n, classes = len(y), len(order)
    xs = StandardScaler().fit_transform(x).astype(np.float64)
    onehot = np.zeros((n, classes))
    onehot[np.arange(n), y] = 1
    lambda_max = np.abs(onehot.T @ xs / n).max()

    start = time.perf_counter()
    model = LogisticRegression(penalty="l1", solver="saga", warm_start=True, tol=args.tol, max_iter=args.max_iter)
    for k in range(args.path):
        lam = lambda_max * args.min_ratio ** (k / max(1, args.path - 1))
        model.set_params(C=1.0 / (lam * n))
        t0 = time.perf_counter()
        model.fit(xs, y)
        logits = xs @ model.coef_.T + model.intercept_
        logits -= logits.max(1, keepdims=True)
        ce = -(logits[np.arange(n), y] - np.log(np.exp(logits).sum(1))).mean()
        nz = (model.coef_ != 0).sum() / classes
        print(json.dumps({"lambda": lam, "seconds": time.perf_counter() - t0, "nonzeros_per_class": nz,
                          "loss": ce + lam * np.abs(model.coef_).sum(), "iterations": int(model.n_iter_.max()),
                          "train_top1": float((logits.argmax(1) == y).mean())}), flush=True)
        if nz >= args.target:
            break
    print(json.dumps({"total_seconds": time.perf_counter() - start, "points": k + 1,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
