"""Probe: does marking episode starts in the inputs help the Hard quick preset's AD?

The preset trains on windows starting at any step (window_stride 1), so that it works under the
paper's queue as under the block refresh (stride_probe.py); windows aligned to episode starts
scored higher under the block refresh but collapsed under the queue. `ModelConfig.episode_marker`
tells the model where episodes start whatever its context's start. This trains the preset's AD
with the marker (training seed 0, the base run's data) and evaluates it both ways on the
validation goals only, beside the stride probe's stride-1 rows (the same model without the
marker, the same evaluation):

    PYTHONPATH=src python experiments/darkroom_hard/marker_probe.py --base runs/darkroom_hard \
        --out runs/hard_marker_probe --json experiments/darkroom_hard/marker_probe.json

--base: a finished `python -m adjax.experiments.darkroom_hard --seeds 1` run (its data). Each
stage is skipped when its output exists, so a rerun continues.
"""

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from adjax.devices import use_cpu_cores

use_cpu_cores()  # one CPU device per core, as the experiment commands; before JAX starts

from adjax import data  # noqa: E402
from adjax.atomic import write_json  # noqa: E402
from adjax.evaluate.results import EvalSpec, evaluate_run  # noqa: E402
from adjax.experiments import darkroom_hard  # noqa: E402
from adjax.train import fit  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))
from stride_probe import summary  # noqa: E402


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--episodes", type=int, default=200)
    args = ap.parse_args(argv)
    cfg = darkroom_hard.quick()
    model = dataclasses.replace(cfg.model, episode_marker=True)
    run_dir = args.out / "ad_marker"
    fit(cfg.train_ad, model, data.load(args.base / "data" / "learning", env=cfg.env, quiet=True),
        run_dir)
    rows = {}
    for mode, refresh in (("block", None), ("queue", 1)):
        path = args.out / f"marker_{mode}.json"
        if not path.exists():
            spec = EvalSpec(env=cfg.env, splits=("val",), num_episodes=args.episodes,
                            num_seeds=args.seeds, refresh_every=refresh, baselines=())
            evaluate_run(run_dir, path, spec, figure=False)
        rows[f"marker {mode}"] = summary(path)
        print("marker", mode, json.dumps(rows[f"marker {mode}"]), flush=True)
    write_json(args.json, {"command": "PYTHONPATH=src python experiments/darkroom_hard/"
                           "marker_probe.py " + " ".join(argv or sys.argv[1:]),
                           "split": "val", "temperature": 1.0, "num_seeds": args.seeds,
                           "num_episodes": args.episodes,
                           "window_stride": cfg.train_ad.window_stride, "rows": rows})


if __name__ == "__main__":
    main()
