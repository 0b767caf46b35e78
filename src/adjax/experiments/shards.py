"""Shards: one experiment's training seeds run in several sittings, each in its own directory,
then published into the experiment's folder and merged there into one experiment.

Three training seeds of Dark Room Hard take about 4 h on a 2-core CPU, longer than a working
session on a machine whose run directories may not outlive it. A shard is a run of some of the
seeds (`--first-seed k --seeds n`: seeds k .. k + n - 1), the same seeds the whole run would
train: seed k's AD and ED get the same training seed, data (collected again, deterministically)
and evaluation keys as in a run of all seeds at once.

    python -m adjax.experiments.darkroom_hard --seeds 1               # runs/darkroom_hard
    python -m adjax.experiments.shards add runs/darkroom_hard experiments/darkroom_hard
    python -m adjax.experiments.darkroom_hard --first-seed 1 --seeds 1
    python -m adjax.experiments.shards add runs/darkroom_hard-seed1 experiments/darkroom_hard
    python -m adjax.experiments.shards merge experiments/darkroom_hard  # again, from the shards

`add` copies a finished shard's small artefacts into DEST/shards/seed{k}/ (results.json,
experiment.json, timings.json, and the pictures only seed 0's run can draw: trajectories, the
source's learning curve), replacing an earlier copy of the same seeds, then merges. `merge`
rebuilds DEST's results.json, experiment.json, timings.json, summary.md and curve figures from
every shard under DEST/shards:
- trained methods (AD, ED, RL2): `per_train_seed` concatenated in seed order, `per_seed` the mean
  of the shards' `per_seed` weighted by their seed counts: a run of all the seeds at once, to the
  4 decimals results.json keeps;
- what does not depend on the training seed (the baselines, the optimal return, the source's
  env-step curves) is the same in every shard (same tasks and keys): taken from the first; a
  shard that disagrees is an error when both ran on one kind of machine, and a recorded warning
  (results.json "seed_free_differences") when they did not, since a learner from scratch (the
  A2C source curve) can round and then sample otherwise on another instruction set;
- the refresh check: every shard's training seeds' checks, summarised again over all of them
  (`pipeline.refresh_summary`); RL²'s configuration and the pictures come from the shard that
  trained seed 0.
The shards must share one configuration (experiment.json, apart from the seeds) and hold
disjoint seeds. The code each ran (results.json "code": its commit) is listed in the merge, with
a warning where shards differ: code is not configuration, so nothing refuses it. The report then
reads DEST/results.json as any other. A later full run published over DEST (`reproduce`)
replaces the shards with its own results.
"""

import argparse
import json
import shutil
from pathlib import Path

import numpy as np

from adjax.atomic import one_line_errors, read_json, write_json
from adjax.experiments.pipeline import refresh_checks, refresh_summary
from adjax.experiments.runner import (
    _source_summary,
    _summary,
    _write_summary,
    normalised_scores,
)
from adjax.report.tables import TRAINED_METHODS, stage_times

SHARDS = "shards"
# Figures a shard keeps: those drawn from AD training seed 0's run (trajectories, the bandit's
# choices, Watermaze's arena) and the source's learning curve; the curve figures are redrawn.
KEPT_FIGURES = ("*_paths.*", "*_episodes.gif", "*_choices.*", "*_arena.*",
                "source_learning_curve.png")
# results.json fields every shard of one experiment shares.
SEED_FREE = ("experiment", "preset", "env", "source_name", "episode_len")
TOLERANCE = 1e-3  # shards' seed-free curves may differ by rounding only


def seeds_of(results: dict) -> list[int]:
    """The training seed indices a run's results.json covers."""
    first = int(results.get("first_seed", 0))
    return list(range(first, first + int(results["train_seeds"])))


def shard_name(seeds: list[int]) -> str:
    return f"seed{seeds[0]}" if len(seeds) == 1 else f"seeds{seeds[0]}-{seeds[-1]}"


def add(run_dir, dest) -> dict:
    """Copy the finished run (a shard) in run_dir into dest/shards/, then `merge(dest)`."""
    run_dir, dest = Path(run_dir), Path(dest)
    path = run_dir / "results.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: no results.json (is the run in {run_dir} finished?)")
    results = read_json(path)
    if "curves" not in results or "train_seeds" not in results:
        raise ValueError(f"{path}: not an experiment's results (no 'curves' / 'train_seeds')")
    seeds = seeds_of(results)
    shards = dest / SHARDS
    kept = []  # checked before anything is replaced: a refused run leaves dest as it was
    for other in _shard_dirs(dest):  # a shard of the same seeds is replaced, overlapping refused
        old = seeds_of(read_json(other / "results.json"))
        if set(old) & set(seeds) and old != seeds:
            raise ValueError(f"{run_dir}: seeds {seeds} overlap {other}'s {old}; remove it first")
        if old != seeds:
            kept.append((other, read_json(other / "experiment.json")))
    _same_config([*kept, (run_dir, read_json(run_dir / "experiment.json"))])
    tmp = shards / f".{shard_name(seeds)}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "figures").mkdir(parents=True)
    # results.json without indentation (about half the size: a shard is an archive, its merge
    # the readable copy), checksummed as the run's.
    write_json(tmp / "results.json", results, indent=None, checksum=True)
    for name in ("experiment.json", "timings.json"):
        if (run_dir / name).exists():
            shutil.copyfile(run_dir / name, tmp / name)
    for pattern in KEPT_FIGURES:
        for fig in sorted((run_dir / "figures").glob(pattern)):
            shutil.copyfile(fig, tmp / "figures" / fig.name)
    final = shards / shard_name(seeds)
    shutil.rmtree(final, ignore_errors=True)
    tmp.replace(final)
    return merge(dest)


def _shard_dirs(dest: Path) -> list[Path]:
    root = dest / SHARDS
    return sorted((d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".")),
                  key=lambda d: seeds_of(read_json(d / "results.json"))[0]) if root.exists() else []


def _same_config(shards: list[tuple[Path, dict]]) -> dict:
    """The shards' shared experiment.json (without first_seed / train_seeds) from (directory,
    experiment.json) pairs; an error names the first shard and field that differ."""
    def strip(cfg):
        return {k: v for k, v in cfg.items() if k not in ("first_seed", "train_seeds")}
    (d0, cfg0), *rest = shards
    for d, cfg in rest:
        a, b = strip(cfg0), strip(cfg)
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                raise ValueError(f"{d / 'experiment.json'}: field {key!r} differs from "
                                 f"{d0 / 'experiment.json'} ({b.get(key)!r} != "
                                 f"{a.get(key)!r}): not shards of one experiment")
    return strip(cfg0)


def _check_equal(name: str, a, b, where: Path, machines: tuple[str, str],
                 differences: list[str]) -> None:
    """A shard's seed-free curve b against the first shard's a. Equal to rounding: nothing. Else,
    shards run on one kind of machine did not evaluate the same tasks or keys: an error. Shards
    run on different kinds (machines: the first's and this one's `machine()`) may differ with the
    same keys (a learner's float sums rounded otherwise by another instruction set, then other
    actions sampled): the first shard's curve is kept and the difference appended to
    `differences`, which the merge prints and records."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape == b.shape and np.allclose(a, b, atol=TOLERANCE, rtol=0):
        return
    if a.shape != b.shape or machines[0] == machines[1]:
        raise ValueError(f"{where}: {name} differs from the first shard's (it depends on no "
                         "training seed, so the shards did not evaluate the same tasks or keys)")
    differences.append(f"{where.parent.name}: {name} differs from the first shard's by up to "
                       f"{np.abs(a - b).max():.4g} (mean {b.mean():.4g} against {a.mean():.4g}; "
                       f"run on {machines[1]}, the first on {machines[0]}); the first's is kept")


def merge_curves(shards: list[tuple[Path, dict]], differences: list[str]) -> dict:
    """The shards' curves as one run's: see the module docstring (`_check_equal` for the
    seed-free curves and `differences`)."""
    (_, first), *_ = shards
    weights = np.array([r["train_seeds"] for _, r in shards], np.float64)
    out = {}
    for split, methods in first["curves"].items():
        merged = {}
        for method, m in methods.items():
            per = [(d, r["curves"].get(split, {}).get(method)) for d, r in shards]
            for d, c in per:
                if c is None:
                    raise ValueError(f"{d / 'results.json'}: no {method} curve on {split}")
            if isinstance(m, dict) and "per_train_seed" in m:  # a trained method
                stacked = np.stack([np.asarray(c["per_seed"], np.float64) for _, c in per])
                merged[method] = {
                    "per_seed": np.tensordot(weights / weights.sum(), stacked, 1)
                    .round(4).tolist(),
                    "num_tasks": m["num_tasks"],
                    "per_train_seed": [row for _, c in per for row in c["per_train_seed"]]}
                for d, c in per:
                    if c["num_tasks"] != m["num_tasks"]:
                        raise ValueError(f"{d / 'results.json'}: {method} on {split} has "
                                         f"{c['num_tasks']} tasks, the first shard "
                                         f"{m['num_tasks']}")
            else:  # a baseline or the optimal return: the same in every shard
                for (d, c), (_, r) in zip(per[1:], shards[1:], strict=True):
                    _check_equal(f"{method} on {split}", m["per_seed"] if isinstance(m, dict)
                                 else m, c["per_seed"] if isinstance(c, dict) else c,
                                 d / "results.json", (first["machine"], r["machine"]),
                                 differences)
                merged[method] = m
        out[split] = merged
    return out


def merge(dest) -> dict:
    """dest's results.json, experiment.json, timings.json, summary.md and curve figures from the
    shards under dest/shards (module docstring) -> the merged results."""
    dest = Path(dest)
    dirs = _shard_dirs(dest)
    if not dirs:
        raise FileNotFoundError(f"{dest / SHARDS}: no shards to merge (add one with "
                                "`python -m adjax.experiments.shards add RUN_DIR DEST`)")
    shards = [(d, read_json(d / "results.json"), read_json(d / "experiment.json"))
              for d in dirs]
    cfg = _same_config([(d, c) for d, _, c in shards])
    seen: dict[int, Path] = {}
    for d, r, _ in shards:
        for k in seeds_of(r):
            if k in seen:
                raise ValueError(f"{d}: training seed {k} is also in {seen[k]}")
            seen[k] = d
        for key in SEED_FREE:
            if r.get(key) != shards[0][1].get(key):
                raise ValueError(f"{d / 'results.json'}: {key!r} is {r.get(key)!r}, the first "
                                 f"shard's {shards[0][1].get(key)!r}")
    seeds = sorted(seen)
    first, differences = shards[0][1], []
    for d, r, _ in shards[1:]:
        for name, sc in r.get("source_curves", {}).items():
            _check_equal(f"source curve {name}", first["source_curves"][name]["per_seed"],
                         sc["per_seed"], d / "results.json", (first["machine"], r["machine"]),
                         differences)
    curves = merge_curves([(d, r) for d, r, _ in shards], differences)
    for line in differences:
        print(f"warning: {dest}'s shard {line}", flush=True)
    times: dict[str, float] = {}
    for d, r, _ in shards:
        for stage, t in stage_times(r).items():
            times[stage if stage not in times else f"{stage} ({d.name})"] = t
    results = {key: first[key] for key in SEED_FREE if key in first}
    results.update({
        "train_seeds": len(seeds), "train_seed_indices": seeds,
        "command": f"python -m adjax.experiments.shards merge {dest}",
        "machine": first["machine"] if all(r["machine"] == first["machine"]
                                           for _, r, _ in shards) else "several (see shards)",
        "wall_time_s": times, "curves": curves,
        "shards": [{"dir": f"{SHARDS}/{d.name}", "seeds": seeds_of(r), "command": r["command"],
                    "code": r.get("code", "not recorded"), "machine": r["machine"]}
                   for d, r, _ in shards]})
    if differences:
        results["seed_free_differences"] = differences
    codes = {sh["code"] for sh in results["shards"]}
    if len(codes) > 1:  # the configuration check cannot see code; say so, do not refuse
        print(f"warning: {dest}'s shards ran different code ("
              + "; ".join(f"{sh['dir']}: {sh['code']}" for sh in results["shards"])
              + "): they are one experiment only if nothing between them changes results",
              flush=True)
    seed0, r0 = next(((d, r) for d, r, _ in shards if 0 in seeds_of(r)), (None, {}))
    checks = {k: c for _, r, _ in shards for k, c in refresh_checks(r).items()}
    if checks:
        results["refresh"] = refresh_summary(checks)
    if "rl2" in r0 or "rl2" in first:
        results["rl2"] = r0.get("rl2", first.get("rl2"))
    results["summary"] = {f"{m} {s}": _summary(curves, s, m) for s in curves
                          for m in (*TRAINED_METHODS, "source", "random")
                          if _summary(curves, s, m)}
    if "source_curves" in first:
        results["source_curves"] = first["source_curves"]
        L = results["episode_len"]
        results["summary"].update({
            f"source {name} {d['split']}": _source_summary(d, curves.get(d["split"], {}), L)
            for name, d in first["source_curves"].items()})
    if "scores" in first:
        results["scores"] = normalised_scores(curves)
    write_json(dest / "experiment.json", {**cfg, "train_seeds": len(seeds)})
    write_json(dest / "timings.json", times, indent=2)
    write_json(dest / "results.json", results, checksum=True)
    (dest / "figures").mkdir(parents=True, exist_ok=True)
    pictures = []
    if seed0 is not None:
        for pattern in KEPT_FIGURES:
            for fig in sorted((seed0 / "figures").glob(pattern)):
                shutil.copyfile(fig, dest / "figures" / fig.name)
                if fig.suffix in (".png", ".gif") and fig.name != "source_learning_curve.png":
                    pictures.append(dest / "figures" / fig.name)
    _write_summary(results, dest, dest / "figures" / "source_learning_curve.png", times,
                   pictures)
    return results


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(
        prog="python -m adjax.experiments.shards",
        description="Publish an experiment run in shards of training seeds and merge them "
                    "into one experiment (see the module docstring).")
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("add", help="copy a finished shard's run into DEST/shards, then merge")
    a.add_argument("run_dir", type=Path, help="the shard's run directory, e.g. runs/darkroom_hard")
    a.add_argument("dest", type=Path, help="the published experiment, e.g. "
                                           "experiments/darkroom_hard")
    m = sub.add_parser("merge", help="rebuild DEST's results from DEST/shards")
    m.add_argument("dest", type=Path)
    args = ap.parse_args(argv)
    with one_line_errors("python -m adjax.experiments.shards", hard_exit=argv is None):
        results = add(args.run_dir, args.dest) if args.cmd == "add" else merge(args.dest)
    print(json.dumps({"train_seeds": results["train_seed_indices"],
                      "summary": results["summary"]}, indent=1))
    return results


if __name__ == "__main__":
    main()
