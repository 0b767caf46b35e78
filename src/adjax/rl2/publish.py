"""Publish an evaluated RL² run (`python -m adjax.rl2 ... --publish DEST`) as small files for the
report: DEST/seed{k}/ (k: the run's training seed) gets

- results.json: the evaluation JSON (`adjax.rl2.evaluate`'s form) with each curve's per-pair
  returns [N][S][E] replaced by their mean over tasks, "per_seed" [S][E], what the report's
  intervals need (a Key-to-Door evaluation's pairs would be hundreds of kB per seed);
- config.json: the run's configuration;
- training.jsonl: its metrics.jsonl (one record per log_every updates);
- run.json: the command, the machine, the update evaluated, env steps, and the training's wall
  time summed from the metrics' env-steps/s (so a resumed run's pieces add up).

`adjax.report.rl2` reads DEST's seeds into REPORT.md (its figure, DEST/figures/rl2.png, is
removed here so that the report draws it again with this seed). Publishing the same seed again
replaces its files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from adjax.atomic import read_json, write_json, write_text


def train_seconds(records: list[dict], steps_per_update: int) -> float:
    """Training wall time from metrics records: each record's updates since the previous one
    over its env-steps/s (checkpoint saves between records not counted)."""
    total, prev = 0.0, 0
    for r in records:
        total += (r["update"] - prev) * steps_per_update / r["env_steps_per_s"]
        prev = r["update"]
    return total


def compact(result: dict) -> dict:
    """The evaluation JSON with per-pair returns replaced by their mean over tasks."""
    out = {**result, "splits": {}}
    for split, sec in result["splits"].items():
        curves = {}
        for name, c in sec["curves"].items():
            c = dict(c)
            if "returns" in c:
                c["per_seed"] = np.asarray(c.pop("returns"), np.float64).mean(axis=0).round(
                    4).tolist()
            curves[name] = c
        out["splits"][split] = {**sec, "curves": curves}
    return out


def publish(run_dir, result_path, dest, command: str) -> Path:
    """Copy run_dir's evaluation (result_path, with per-pair returns) and records into
    dest/seed{k}/, with `command` (what trained and evaluated it) -> that directory."""
    from adjax.experiments.common import machine  # the experiments' machine line

    run_dir, dest = Path(run_dir), Path(dest)
    result = read_json(result_path)
    if any("returns" not in c for sec in result["splits"].values()
           for c in sec["curves"].values()):
        raise ValueError(f"{result_path}: published evaluations need the per-pair returns "
                         "(evaluate with keep_returns=True)")
    cfg = result["rl2"]["config"]
    out = dest / f"seed{cfg['seed']}"
    out.mkdir(parents=True, exist_ok=True)
    lines = (run_dir / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(ln) for ln in lines if ln.strip()]
    records = [r for r in records if r["update"] <= result["rl2"]["update"]]
    spu = cfg["num_trials"] * cfg["unroll"]
    write_json(out / "results.json", compact(result), indent=None)
    (dest / "figures" / "rl2.png").unlink(missing_ok=True)  # the report redraws it with this seed
    write_text(out / "config.json", (run_dir / "config.json").read_text())
    write_text(out / "training.jsonl", "".join(json.dumps(r) + "\n" for r in records))
    write_json(out / "run.json", {
        "command": command,
        "machine": machine(), "update": result["rl2"]["update"],
        "env_steps": result["rl2"]["env_steps"],
        "train_seconds": round(train_seconds(records, spu), 1)}, indent=1)
    return out


def main(argv=None) -> None:
    import argparse

    from adjax.atomic import one_line_errors

    ap = argparse.ArgumentParser(prog="python -m adjax.rl2.publish",
                                 description="Publish an RL² run's existing evaluation "
                                             "(RUN/eval/results.json) into DEST/seed{k}/.")
    ap.add_argument("run", type=Path, help="an evaluated RL² run directory")
    ap.add_argument("dest", type=Path, help="e.g. experiments/rl2/darkroom_hard")
    ap.add_argument("--command", required=True,
                    help="the command that trained and evaluated the run, for the report")
    args = ap.parse_args(argv)
    with one_line_errors("python -m adjax.rl2.publish", hard_exit=argv is None):
        print(publish(args.run, args.run / "eval" / "results.json", args.dest, args.command))


if __name__ == "__main__":
    main()
