"""Probe: should Key-to-Door's training windows start at episode starts, under the paper's queue?

The quick preset trained on windows starting at episode starts (window_stride 50), chosen before
the protocol on held-out pairs with the block refresh, whose contexts also start at an episode
start. On Dark Room Hard the same alignment made AD collapse to random under the paper's queue
(contexts of the last c steps, starting anywhere; experiments/darkroom_hard/stride_probe.json).
This probe trains AD both ways (window_stride 50 and 1, the paper's) on the preset's data with
training seed 0 and evaluates each model with both refreshes on the validation pairs only
(nothing here touches test):

    PYTHONPATH=src python experiments/key_to_door/stride_probe.py --out runs/k2d_stride_probe \
        --json experiments/key_to_door/stride_probe.json

A third model (stride 1, `ModelConfig.episode_marker`: every episode's first step reads
previous action "none" and reward 0, so the model knows where episodes start whatever the
window's start) tests whether what the episode-start windows gave can be had under the queue.

Each model is trained exactly as the experiment trains AD seed 0 for that variant, so the chosen
one can be copied to runs/key_to_door/runs/ad/seed0 (with runs/k2d_stride_probe/data as
runs/key_to_door/data) and the experiment reuses it. Every stage is skipped when its output
exists (training resumes from its checkpoint), so a rerun continues.
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from adjax.devices import use_cpu_cores

use_cpu_cores()  # one CPU device per core, as the experiment commands; before JAX starts

import numpy as np  # noqa: E402

from adjax import data  # noqa: E402
from adjax.atomic import read_json, write_json  # noqa: E402
from adjax.evaluate.results import EvalSpec, evaluate_run  # noqa: E402
from adjax.experiments import key_to_door  # noqa: E402
from adjax.experiments.common import Stages  # noqa: E402
from adjax.experiments.pipeline import Run, _collect, _trained  # noqa: E402
from adjax.stats import window_means  # noqa: E402
from adjax.train import fit  # noqa: E402

# name: (window_stride, episode_marker); the names are the run directories' and rows' (ad_NAME)
VARIANTS = {"stride50": (50, False), "stride1": (1, False), "stride1_marker": (1, True)}


def summary(path: Path, episodes: int) -> dict:
    r = np.asarray(read_json(path)["splits"]["val"]["curves"]["agent"]["returns"], np.float64)
    tenth = max(1, episodes // 10)
    return {"pairs": int(r.shape[0] * r.shape[1]), **window_means(r.mean(axis=0), {
        "all": slice(None), "first_10pct": slice(0, tenth),
        "last_10pct": slice(episodes - tenth, episodes)})}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--tasks", type=int, default=50, help="validation pairs (the preset's)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--episodes", type=int, default=100)
    args = ap.parse_args(argv)
    cfg = key_to_door.quick()
    run = Run(cfg, args.out, Stages(args.out), args.out / "data", True)
    _collect(run)
    learning = data.load(run.learn_dir, env=cfg.env, quiet=True)
    rows, training = {}, {}
    for name, (stride, marker) in VARIANTS.items():
        tcfg = dataclasses.replace(cfg.train_ad, window_stride=stride)  # training seed 0
        model = dataclasses.replace(cfg.model, episode_marker=marker)
        run_dir = args.out / f"ad_{name}"
        run.stages.run(f"train AD {name}",
                       lambda t=tcfg, m=model, r=run_dir: fit(t, m, learning, r),
                       done=_trained(run_dir, tcfg.num_steps))
        last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
        training[name] = {k: round(last[k], 4) for k in ("step", "loss", "accuracy")}
        for mode, refresh in (("block", None), ("queue", 1)):
            path = args.out / f"{name}_{mode}.json"
            spec = EvalSpec(env=cfg.env, env_kwargs=cfg.env_kwargs, splits=("val",),
                            num_episodes=args.episodes, num_seeds=args.seeds,
                            num_tasks=args.tasks, refresh_every=refresh, baselines=())
            run.stages.run(f"evaluate {name} {mode}", lambda p=path, s=spec, r=run_dir:
                           evaluate_run(r, p, s, batch_size=cfg.eval.batch_size, figure=False),
                           done=path.exists())
            rows[f"{name} {mode}"] = summary(path, args.episodes)
            print(f"{name} {mode}: {rows[f'{name} {mode}']}", flush=True)
    write_json(args.json, {"command": "PYTHONPATH=src python experiments/key_to_door/"
                           "stride_probe.py " + " ".join(argv or sys.argv[1:]),
                           "split": "val", "temperature": 1.0, "num_tasks": args.tasks,
                           "num_seeds": args.seeds, "num_episodes": args.episodes,
                           "train_steps": cfg.train_ad.num_steps, "rows": rows,
                           "training_last_log": training})


if __name__ == "__main__":
    main()
