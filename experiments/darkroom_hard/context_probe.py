"""Probe: does a longer context keep Dark Room Hard's AD from losing goals it has found?

behaviour.py found that held-out AD (context 160 steps = 8 episodes) returns to a goal while one
of its recent episodes found it, but nearly every task x seed pair later misses its goal 8
episodes in a row, after which the goal has left the context and is rarely found again. This
probe trains the quick preset's AD seed 0 with other context lengths on the same data and
evaluates each, and the preset's own AD, on the validation goals only (block refresh, 1000
episodes, so that losses have time to happen; nothing here touches the held-out goals):

    PYTHONPATH=src python experiments/darkroom_hard/context_probe.py --base runs/darkroom_hard3k \
        --out runs/hard_context_probe --json experiments/darkroom_hard/context_probe.json

--base: a finished quick-preset run (its data and its AD seed 0, the 160-step reference).
Each variant trains into OUT/ad_ctx<c> unless its evaluation exists; a rerun continues.
"""

import argparse
import dataclasses
import sys
from pathlib import Path

from adjax.devices import use_cpu_cores

use_cpu_cores()  # one CPU device per core, as the experiment commands; before JAX starts

import numpy as np  # noqa: E402

from adjax import data  # noqa: E402
from adjax.atomic import read_json, write_json  # noqa: E402
from adjax.evaluate.results import EvalSpec, evaluate_run  # noqa: E402
from adjax.experiments import darkroom_hard  # noqa: E402
from adjax.stats import mean_ci  # noqa: E402
from adjax.train import fit  # noqa: E402


def summary(path: Path) -> dict:
    """Validation returns [N, S, E] -> means over windows, +- over evaluation seeds."""
    r = np.asarray(read_json(path)["splits"]["val"]["curves"]["agent"]["returns"], np.float64)
    out = {"pairs": int(r.shape[0] * r.shape[1])}
    for name, sl in (("episodes_181_200", slice(180, 200)), ("episodes_901_1000",
                                                              slice(900, 1000))):
        m, half = mean_ci(r[..., sl].mean(axis=(0, 2)))  # per evaluation seed
        out[name] = {"mean": round(float(m), 3), "ci95": round(float(half), 3)}
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--contexts", type=int, nargs="+", default=[320])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--episodes", type=int, default=1000)
    args = ap.parse_args(argv)
    cfg = darkroom_hard.quick()
    ref = cfg.model.context_len
    runs = {ref: args.base / "runs" / "ad" / "seed0"}
    runs.update({c: args.out / f"ad_ctx{c}" for c in args.contexts if c != ref})
    rows = {}
    for c, run_dir in runs.items():
        path = args.out / f"ctx{c}_val.json"
        if not path.exists():
            if c != ref:
                fit(cfg.train_ad, dataclasses.replace(cfg.model, context_len=c),
                    data.load(args.base / "data" / "learning", env=cfg.env, quiet=True),
                    run_dir)
            spec = EvalSpec(env=cfg.env, splits=("val",), num_episodes=args.episodes,
                            num_seeds=args.seeds, baselines=())
            evaluate_run(run_dir, path, spec, figure=False)
        rows[f"context {c}"] = summary(path)
        print(c, rows[f"context {c}"], flush=True)
    write_json(args.json, {"command": "PYTHONPATH=src python experiments/darkroom_hard/"
                           "context_probe.py " + " ".join(argv or sys.argv[1:]),
                           "split": "val", "temperature": 1.0, "refresh": "block",
                           "num_seeds": args.seeds, "num_episodes": args.episodes,
                           "rows": rows})


if __name__ == "__main__":
    main()
