"""Rerun part of the published Dark Room quick run with today's code and compare it bit for bit.

    ADJAX_CPU_DEVICES=1 PYTHONPATH=src python experiments/darkroom/rerun_check.py

It writes runs/darkroom_rerun (--out). The published run (experiments/darkroom) was made on one
CPU device, so the rerun uses one too (a run is bit-reproducible for a device count, not across
counts). It collects the learning histories, trains AD training seed 0 (the quick preset's 1500
steps), evaluates it on the validation goals (5 seeds x 8 goals x 200 episodes) with the
validation baselines, and the held-out baselines (random, source; 20 seeds x 16 goals x 1000
episodes), then compares each curve with the published results.json value by value (both are
means rounded to 4 decimals). ED is not trained: each curve's evaluation keys are fixed by its
name, so AD's curve does not depend on whether ED is evaluated beside it (this check shows that
too). Exit status 1 if any curve differs.
"""

import argparse
import dataclasses
import sys
from pathlib import Path

import numpy as np

from adjax.atomic import read_json
from adjax.evaluate import evaluate_run
from adjax.experiments.common import Stages
from adjax.experiments.darkroom import quick
from adjax.experiments.pipeline import BASELINES, Run, _curves, _eval_spec
from adjax.experiments.runner import run_experiment

PUBLISHED = Path(__file__).parent / "results.json"


def config():
    """The quick preset cut down to AD seed 0, validation evaluation, held-out baselines."""
    cfg = quick()
    test, val, _ = cfg.eval.splits
    return dataclasses.replace(
        cfg, train_seeds=1, train_ed=None,
        eval=dataclasses.replace(cfg.eval, splits=(val,), refresh_check=None),
    ), test


def compare(mine: dict, published: dict, split: str, names) -> tuple[list[str], bool]:
    """Each curve of `names` on `split`: its per-seed values, or a trained method's training
    seed 0 (the published curves are means rounded to 4 decimals, as these are) -> (one line
    per curve, whether all are identical)."""
    lines, ok = [], True
    for name in names:
        a, b = mine[split][name], published[split][name]
        pairs = [("per_seed", a["per_seed"], b["per_seed"])]
        if "per_train_seed" in a:
            pairs = [("per_train_seed[0]", a["per_train_seed"][0], b["per_train_seed"][0])]
        for what, x, y in pairs:
            x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
            same = x.shape == y.shape and np.array_equal(x, y)
            diff = "" if same or x.shape != y.shape else f", max |diff| {np.abs(x - y).max():.3g}"
            lines.append(f"{split} {name} {what} {list(x.shape)}: "
                         f"{'identical' if same else 'DIFFERENT'}{diff}")
            ok &= same
    return lines, ok


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/darkroom_rerun"))
    args = p.parse_args(argv)
    published = read_json(PUBLISHED)["curves"]  # its checksum verified
    cfg, test = config()
    results = run_experiment(cfg, args.out, preset="quick (rerun check)")
    # The held-out baselines alone (AD's 1000-episode held-out evaluation is not rerun).
    run = Run(cfg, args.out, Stages(args.out), args.out / "data", True)
    path = args.out / "eval" / "test" / "baselines.json"
    run.stages.run("evaluate test tasks, baselines", lambda: evaluate_run(
        None, path, _eval_spec(run, test, test.baselines), source_cfg=cfg.source,
        batch_size=cfg.eval.batch_size, figure=False), done=path.exists())
    base = _curves([read_json(path)], "test", BASELINES)
    lines, ok = compare(results["curves"], published, "val", ("AD", "random"))
    more, ok2 = compare({"test": base}, published, "test", ("random", "source"))
    print("\n".join(lines + more))
    return 0 if ok and ok2 else 1


if __name__ == "__main__":
    sys.exit(main())
