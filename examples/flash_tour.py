#!/usr/bin/env python3
"""A tour of the FLASH co-design service over REST, as a notebook user drives it.

    sample -> fetch ONNX -> (train with PyTorch and post accuracies) -> queue measurements
    -> fit hardware and accuracy models -> exact search under a latency budget
    -> re-measure the winner -> save the SVG plots

Needs a running service and an agent on a device:

    FLASH_URL=http://127.0.0.1:8080 FLASH_TOKEN=$(cat flash-data/admin-token) \\
        python examples/flash_tour.py --device local-cpu

Accuracies come from the committed digits data (examples/data/digits-accuracy.json). With
`--train N` and PyTorch installed, N of the sampled architectures are also trained here with the
same protocol (examples/train_digits.py) and their accuracies posted. The same flow, cell by
cell, is in examples/flash_tour.ipynb.
"""

import argparse
import json
import os
import pathlib
import sys
import time

import requests

HERE = pathlib.Path(__file__).resolve().parent
SPACE = "flash-densenet-digits"


class Flash:
    """A thin client: every call raises with the service's problem details on an error."""

    def __init__(self, url, token):
        self.url = url.rstrip("/")
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"

    def _check(self, r):
        if not r.ok:
            try:
                problem = r.json()
            except ValueError:
                problem = {"detail": r.text}
            raise RuntimeError(f"{r.request.method} {r.url}: {r.status_code} {problem}")
        return r

    def get(self, path, **params):
        return self._check(self.session.get(self.url + path, params=params, timeout=60)).json()

    def post(self, path, body):
        return self._check(self.session.post(self.url + path, json=body, timeout=300)).json()

    def raw(self, path):
        return self._check(self.session.get(self.url + path, timeout=60)).content

    def all(self, path, **params):
        """Every item of a list, following next_cursor."""
        items, cursor = [], None
        while True:
            page = self.get(path, limit=1000, **({"cursor": cursor} if cursor else {}), **params)
            items += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                return items


def wait_for_jobs(flash, job_ids, timeout_s=900):
    start, last = time.time(), None
    while True:
        states = [flash.get(f"/v1/jobs/{j}")["state"] for j in job_ids]
        done = sum(s == "succeeded" for s in states)
        if "failed" in states:
            raise RuntimeError(f"a measurement job failed: {states}")
        if done != last:
            print(f"  measured {done}/{len(job_ids)} ({time.time() - start:.0f} s)", flush=True)
            last = done
        if done == len(job_ids):
            return
        if time.time() - start > timeout_s:
            raise RuntimeError("measurements did not finish in time")
        time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=os.environ.get("FLASH_URL", "http://127.0.0.1:8080"))
    parser.add_argument("--token", default=os.environ.get("FLASH_TOKEN"))
    parser.add_argument("--device", default=os.environ.get("FLASH_DEVICE"), help="default: the first online device")
    parser.add_argument("--samples", type=int, default=25)
    parser.add_argument("--time-budget-s", type=float, default=3.0, help="timed seconds per measurement")
    parser.add_argument("--train", type=int, default=0, help="also train this many samples with PyTorch")
    parser.add_argument("--out", default="flash-tour-output", help="where the SVG plots and a model go")
    args = parser.parse_args()
    if not args.token:
        sys.exit("set FLASH_TOKEN (or --token): a write or admin token")
    flash = Flash(args.url, args.token)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    space = flash.get(f"/v1/spaces/{SPACE}")
    print(f"space {SPACE}: {space['size']} configurations, input {space['input_shape']}")

    print("1. sample architectures spread over NN-Degree")
    sample = flash.post(f"/v1/spaces/{SPACE}/samples", {"n": args.samples, "seed": 1, "stratified": True})["items"]
    ids = [a["id"] for a in sample]
    for a in sample[:3]:
        m = a["metrics"]
        print(f"  {a['id']}  NN-Degree {m['nn_degree']:.1f}  params {m['params']}  MACs {m['macs']}")

    print("2. fetch one as ONNX")
    model = flash.raw(f"/v1/architectures/{ids[0]}/onnx")
    (out / "first.onnx").write_bytes(model)
    print(f"  {len(model)} bytes -> {out / 'first.onnx'}")

    print("3. accuracies")
    data = json.loads((HERE / "data" / "digits-accuracy.json").read_text())
    known = {a["architecture_id"] for a in flash.all("/v1/accuracies", dataset="digits")}
    for record in data["records"]:
        arch = flash.post("/v1/architectures", record["spec"])
        if arch["id"] not in known:
            flash.post("/v1/accuracies", {"architecture_id": arch["id"], "dataset": "digits",
                                          "accuracy": record["accuracy"], "epochs": record["epochs"],
                                          "notes": "examples/data/digits-accuracy.json"})
    print(f"  {len(data['records'])} committed digits records")
    if args.train:
        try:
            import torch  # noqa: F401
        except ImportError:
            print("  PyTorch is not installed: skipping --train")
        else:
            import torch

            sys.path.insert(0, str(HERE))
            import train_digits  # the committed data's protocol: same network, split and schedule

            digits = train_digits.load_data()
            epochs, seed = train_digits.DEFAULT_EPOCHS, train_digits.DEFAULT_SEED
            for a in sample[: args.train]:
                torch.manual_seed(seed)
                accuracy = train_digits.train(train_digits.CellNet(a["spec"]), digits, epochs, seed)
                flash.post("/v1/accuracies", {"architecture_id": a["id"], "dataset": "digits",
                                              "accuracy": accuracy, "epochs": epochs,
                                              "notes": "trained by examples/flash_tour.py"})
                print(f"  trained {a['id']}: {accuracy:.4f}")

    device = args.device
    if not device:
        online = [d for d in flash.all("/v1/devices") if d["online"] and d["profile"] != "imc-rram"]
        if not online:
            sys.exit("no online device: start an agent (see README)")
        device = online[0]["name"]
    print(f"4. measure on {device}")
    jobs = flash.post("/v1/jobs", {"architecture_ids": ids, "device": device,
                                   "protocol": {"time_budget_s": args.time_budget_s}})
    wait_for_jobs(flash, [j["id"] for j in jobs["items"]])

    print("5. fit")
    latency = flash.post("/v1/hardware-models", {"device": device, "metric": "latency", "fit_on": ids})
    f = latency["fit"]
    print(f"  latency: {f['feature_set']}, LOO MAPE {f['loo']['mape']:.1f}%, within 10% {f['loo']['within_10']:.0%},"
          f" Spearman {f['loo']['spearman']:.3f} (MACs only: MAPE {f['baseline_macs']['mape']:.1f}%)")
    accuracy = flash.post("/v1/accuracy-models", {"dataset": "digits", "space": SPACE})
    a = accuracy["fit"]
    print(f"  accuracy: LOO RMSE {a['errors']['loo_rmse']:.4f}, Spearman {a['errors']['spearman']:.3f}"
          f" (params only: {a['baseline_params']['errors']['loo_rmse']:.4f}); {a['reason']}")

    print("6. search the whole space under a latency budget")
    measured = sorted(s["actual"] for s in latency["samples"])
    budget = measured[len(measured) // 2]
    search = flash.post("/v1/searches", {
        "space": SPACE, "dataset": "digits", "accuracy_model": accuracy["id"],
        "devices": [{"device": device, "max_latency_ms": budget, "latency_model": latency["id"]}],
    })
    best = search["result"]["best"]
    print(f"  budget {budget:.3f} ms; {search['result']['configurations']} configurations in"
          f" {search['result']['elapsed_ms']:.2f} ms, exact={search['result']['exact']}")
    print(f"  winner {best['id']}: accuracy {best['accuracy']['value']:.4f}, cells {best['spec']['cells']}")

    print("7. re-measure the winner")
    verified = flash.post(f"/v1/searches/{search['id']}/verify", {"top_k": 1,
                                                                   "protocol": {"time_budget_s": args.time_budget_s}})
    wait_for_jobs(flash, [v["job_id"] for v in verified["verification"]])
    v = flash.get(f"/v1/searches/{search['id']}")["verification"][0]
    print(f"  predicted {v['predicted_latency_ms']:.3f} ms, measured {v['measured_latency_ms']:.3f} ms"
          f" normalized (raw p50 {v['measured_p50_ms']:.3f} ms), meets the budget: {v['meets_latency_limit']}")

    print("8. plots")
    for name, path in [("latency-fit.svg", f"/v1/hardware-models/{latency['id']}/plot.svg"),
                       ("accuracy-fit.svg", f"/v1/accuracy-models/{accuracy['id']}/plot.svg"),
                       ("pareto.svg", f"/v1/searches/{search['id']}/pareto.svg")]:
        (out / name).write_bytes(flash.raw(path))
        print(f"  {out / name}")


if __name__ == "__main__":
    main()
