"""A candidate preset's run, read on the validation (and training) platforms only, for its
adoption rule (experiments/watermaze/NOTES.md): success per 16 episodes of AD, ED and the random
policy, and over episodes 145-160 with the 95% interval over evaluation seeds; AD's training
accuracy and loss at its last logged step. The held-out evaluation is not read.

    PYTHONPATH=src python experiments/watermaze/candidates.py \
        tabular=runs/watermaze_tabular [NAME=RUN ...] --json experiments/watermaze/candidates.json

Entries already in --json for other names are kept, so candidates accumulate one run at a time.
"""

import argparse
import json
from pathlib import Path

import numpy as np

from adjax.atomic import read_json, write_json
from adjax.stats import mean_ci

SPLITS = ("val", "train")
FINAL = slice(144, 160)  # episodes 145-160
NAMES = {"agent": "AD", "ed": "ED", "random": "random"}


def curves(run: Path, split: str) -> dict:
    """{method: returns float[tasks, seeds, episodes]} of training seed 0 and the baselines."""
    out = {}
    for f in ("seed0", "baselines"):
        for key, c in read_json(run / "eval" / split / f"{f}.json")["splits"][split][
                "curves"].items():
            if key in NAMES:
                out[NAMES[key]] = np.asarray(c["returns"], np.float64)
    return out


def summarise(run: Path) -> dict:
    res = {"run": str(run), "experiment": read_json(run / "experiment.json")}
    for split in SPLITS:
        entry = {}
        for name, r in curves(run, split).items():
            per_seed = r.mean(axis=0)  # [seeds, episodes], mean over platforms
            m, h = mean_ci(per_seed[:, FINAL].mean(axis=1))
            entry[name] = {"tasks_x_seeds": list(r.shape[:2]),
                           "per_16_episodes": per_seed.mean(0).reshape(-1, 16).mean(1)
                           .round(3).tolist(),
                           "episodes_145_160": round(float(m), 3),
                           "episodes_145_160_ci95": round(float(h), 3)}
        res[split] = entry
    last = (run / "runs" / "ad" / "seed0" / "metrics.jsonl").read_text().splitlines()[-1]
    metrics = json.loads(last)
    res["ad_training"] = {k: round(metrics[k], 4) for k in ("step", "accuracy", "loss")}
    ad, rnd = res["val"]["AD"], res["val"]["random"]
    res["beats_random_on_val"] = bool(
        ad["episodes_145_160"] - rnd["episodes_145_160"]
        > ad["episodes_145_160_ci95"] + rnd["episodes_145_160_ci95"])
    return res


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="NAME=RUN_DIR")
    ap.add_argument("--json", type=Path, required=True)
    args = ap.parse_args(argv)
    out = read_json(args.json) if args.json.exists() else {}
    for item in args.runs:
        name, _, run = item.partition("=")
        if not run:
            raise SystemExit(f"expected NAME=RUN_DIR, got {item!r}")
        out[name] = summarise(Path(run))
        v = out[name]["val"]
        print(name, {m: (e["episodes_145_160"], e["episodes_145_160_ci95"])
                     for m, e in v.items()}, "beats random:", out[name]["beats_random_on_val"])
    write_json(args.json, out)
    return out


if __name__ == "__main__":
    main()
