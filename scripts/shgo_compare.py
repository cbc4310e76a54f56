#!/usr/bin/env python3
"""FLASH's optimiser on our problems: scipy.optimize.shgo over the relaxed cell variables.

Reads the JSON written by `cargo run -p flash-core --release --example bench_search --
--write-problem FILE`: the space and, per problem, the fitted models, limits, objective and the
exact search's optimum. For each problem SHGO minimises the objective over the 3 x num_cells
relaxed variables (width, depth, tc per cell, real-valued within the grid's range) with the
limits as inequality constraints; its point is then rounded to the nearest grid values, as FLASH
describes, and scored exactly. Prints SHGO's time, its rounded objective and whether the rounded
point meets the limits, next to the exact search's objective and median time.

Usage: scripts/shgo_compare.py PROBLEM.json [--n 64] [--iters 1] [--maxtime 60]
"""

import argparse
import json
import math
import time

import numpy as np
from scipy.optimize import shgo

FEATURES = [
    "macs", "macs_conv3x3", "macs_conv1x1", "macs_depthwise", "macs_conv_other", "macs_linear",
    "activation_bytes", "concat_bytes", "weight_bytes", "kernels", "constant",
]


def counts(space, cells):
    """Closed-form counts of a network (core/src/features.rs), valid for real-valued cells too."""
    c_in, h, w = space["input_shape"]
    res = [(h, w)]
    for c in range(len(cells)):
        hh, ww = res[-1]
        res.append((hh, ww) if c == 0 else ((hh - 1) // 2 + 1, (ww - 1) // 2 + 1))
    total = dict(params=0.0, macs3=0.0, macs_lin=0.0, act=0.0, concat=0.0, kernels=0.0)
    prev = c_in
    degree = 0.0
    for c, (wd, d, tc) in enumerate(cells):
        p_in = res[c][0] * res[c][1]
        p = res[c + 1][0] * res[c + 1][1]
        m = min(d - 2, math.floor(tc / wd))
        s = wd * m * (m + 1) / 2 + tc * (d - 2 - m)
        r = tc - wd * math.floor(tc / wd)
        slices = (d - 2 - m) if r > 1e-12 else 0.0
        dense = 1.0 if tc > 1e-12 else 0.0
        total["params"] += 9 * prev * wd + 9 * wd * ((d - 1) * wd + s) + 2 * wd * d
        total["macs3"] += 9 * wd * p * (prev + (d - 1) * wd + s)
        total["act"] += 4 * (prev * p_in + 5 * wd * p + 6 * (d - 1) * wd * p + s * p
                             + dense * 2 * ((d - 2) * wd + s) * p + slices * (wd + r) * p)
        total["concat"] += 4 * (dense * ((d - 2) * wd + s) * p + slices * r * p)
        total["kernels"] += d + dense * (d - 2) + slices
        degree += wd + s / d
        prev = wd
    k = space["num_classes"]
    hh, ww = res[-1]
    total["params"] += prev * k + k
    total["macs_lin"] += prev * k
    total["act"] += 4 * (prev * hh * ww + 2 * prev + k)
    total["kernels"] += 2
    macs = total["macs3"] + total["macs_lin"]
    x = dict(zip(FEATURES, [macs, total["macs3"], 0, 0, 0, total["macs_lin"], total["act"],
                            total["concat"], 4 * total["params"], total["kernels"], 1.0]))
    return x, degree, total["params"], macs


def predict(model, x):
    return sum(c * x[f] for f, c in zip(model["features"], model["coefficients"]))


def accuracy(model, degree, params):
    form, coef = model["form"], model["coefficients"]
    v, k = coef[0], 1
    if form.get("degree"):
        t = {"linear": degree, "log": math.log(degree), "reciprocal": 1.0 / degree}[form["degree"]]
        v += coef[k] * t
        k += 1
    if form.get("log_params"):
        v += coef[k] * math.log(params)
    return v


def evaluate(space, problem, cells):
    """(objective to minimise, [limit slack >= 0 ...], objective as reported)."""
    x, degree, params, macs = counts(space, cells)
    acc = accuracy(problem["accuracy"], degree, params)
    costs = {}
    slacks = []
    for dev in problem["devices"]:
        for metric in ("latency", "energy", "area"):
            model = dev.get(metric)
            if model:
                costs[(dev["device"], metric)] = predict(model, x)
                limit = dev.get("max_" + metric)
                if limit is not None:
                    slacks.append((limit - costs[(dev["device"], metric)]) / limit)
    if problem.get("max_params") is not None:
        slacks.append((problem["max_params"] - params) / problem["max_params"])
    if problem.get("max_macs") is not None:
        slacks.append((problem["max_macs"] - macs) / problem["max_macs"])
    obj = problem["objective"]
    if obj["kind"] == "max_accuracy":
        return -acc, slacks, acc
    if obj["kind"] == "trade_off":
        v = obj["a"] * math.log(max(acc, 1e-12))
        for dev in problem["devices"]:
            for metric, e in (("latency", obj["b"]), ("energy", obj["c"]), ("area", obj["d"])):
                if e:
                    v -= e * math.log(max(costs[(dev["device"], metric)], 1e-12))
        return -v, slacks, math.exp(v)
    cost = costs[(obj["device"], obj["metric"])]
    slacks.append(acc - obj["min_accuracy"])
    return cost, slacks, cost


def nearest(grid, v):
    return min(grid, key=lambda g: abs(g - v))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("problem_file")
    ap.add_argument("--n", type=int, default=64, help="SHGO sampling points")
    ap.add_argument("--iters", type=int, default=1)
    ap.add_argument("--maxtime", type=float, default=60.0, help="SHGO's own time limit, s")
    args = ap.parse_args()
    doc = json.load(open(args.problem_file))
    space = doc["space"]
    nc = space["num_cells"]
    bounds = [(min(g), max(g)) for _ in range(nc)
              for g in (space["widths"], space["depths"], space["tcs"])]

    def cells_of(v):
        return [(v[3 * c], v[3 * c + 1], v[3 * c + 2]) for c in range(nc)]

    print(f"{'problem':22} {'shgo s':>8} {'shgo objective':>15} {'meets limits':>12} "
          f"{'exact objective':>16} {'exact ms':>9} {'gap %':>8}")
    for entry in doc["problems"]:
        problem = entry["problem"]
        n_slacks = len(evaluate(space, problem, cells_of([b[1] for b in bounds]))[1])
        cons = [{"type": "ineq", "fun": (lambda v, i=i: evaluate(space, problem, cells_of(v))[1][i])}
                for i in range(n_slacks)]
        t = time.perf_counter()
        res = shgo(lambda v: evaluate(space, problem, cells_of(v))[0], bounds,
                   constraints=cons, n=args.n, iters=args.iters, sampling_method="sobol",
                   options={"maxtime": args.maxtime})
        elapsed = time.perf_counter() - t
        ours = entry["ours"]["objective"]
        if np.asarray(res.x).ndim != 1 or len(res.x) != len(bounds):
            print(f"{entry['name']:22} {elapsed:8.3f} {'no point':>15} {'-':>12} "
                  f"{ours:16.6f} {entry['ours']['median_ms']:9.3f} {'n/a':>8}", flush=True)
            print(f"    shgo: {res.message}")
            continue
        rounded = [(nearest(space["widths"], w), nearest(space["depths"], d),
                    nearest(space["tcs"], tc)) for w, d, tc in cells_of(np.asarray(res.x))]
        _, slacks, reported = evaluate(space, problem, rounded)
        ok = all(s >= -1e-9 for s in slacks)
        minimise = problem["objective"]["kind"] == "min_cost"
        gap = 100 * ((reported - ours) if minimise else (ours - reported)) / abs(ours)
        # A rounded point that breaks a limit has no meaningful gap.
        gap_text = f"{gap:8.2f}" if ok else f"{'n/a':>8}"
        print(f"{entry['name']:22} {elapsed:8.3f} {reported:15.6f} {str(ok):>12} "
              f"{ours:16.6f} {entry['ours']['median_ms']:9.3f} {gap_text}", flush=True)
        print(f"    shgo rounded point {rounded}")


if __name__ == "__main__":
    main()
