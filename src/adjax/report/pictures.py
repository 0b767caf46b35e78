"""What the picture modules share (`adjax.report.trajectories`, `.choices`, `.arena`): finding a
trained AD run in an experiment directory, its fingerprint (so that unchanged pictures are
reused), the experiment's settings, and the command line."""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

from adjax.atomic import read_json
from adjax.checkpoints import checkpoint_steps


class PictureError(ValueError):
    """A run directory that cannot give the asked-for pictures; the message says why."""


def ad_run_dir(run_dir: Path, name: str) -> Path:
    ad = run_dir / "runs" / "ad" / "seed0"
    ckpts = ad / "checkpoints"
    if not (ad / "config.json").exists() or not checkpoint_steps(ad):
        raise PictureError(f"{run_dir}: no trained AD (no checkpoint under {ckpts}); train "
                           f"it first (python -m adjax.experiments.{name} --out {run_dir})")
    return ad


def fingerprint(ad_run: Path) -> str:
    """sha256 of the AD run's config.json and the files of its latest checkpoint: a retrained or
    further-trained run gets another."""

    h = hashlib.sha256((ad_run / "config.json").read_bytes())
    latest = ad_run / "checkpoints" / str(checkpoint_steps(ad_run)[-1])
    h.update(latest.name.encode())
    for f in sorted(p for p in latest.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(latest)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def unchanged(files: dict[str, Path], stamp: dict) -> bool:
    """The pictures `files` exist and their JSON ("json") records `stamp` (the settings and the
    run's fingerprint): reuse them. A damaged JSON is drawn again."""
    if not all(p.exists() for p in files.values()):
        return False
    try:
        old = read_json(files["json"])
    except ValueError:
        return False
    return all(old.get(k) == v for k, v in stamp.items())


def experiment_info(run_dir) -> dict:
    """{"name", "env", "env_kwargs", "refresh_every", "temperature", "preset"} of an experiment
    directory, or a PictureError naming what is missing."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise PictureError(f"{run_dir}: no such directory")
    exp = run_dir / "experiment.json"
    if not exp.exists():
        hint = (" (a training run: pass the experiment directory above runs/ad/seed0)"
                if (run_dir / "config.json").exists() else "")
        raise PictureError(f"{run_dir}: not an experiment run directory (no experiment.json)"
                           f"{hint}")
    cfg = json.loads(exp.read_text())
    res = run_dir / "results.json"
    preset = read_json(res).get("preset") if res.exists() else None
    ev = cfg.get("eval", {})
    return {"name": cfg["name"], "env": cfg["env"], "env_kwargs": cfg.get("env_config") or {},
            "preset": preset,
            "refresh_every": ev.get("refresh_every"),
            "temperature": float(ev.get("temperature", 1.0))}


def picture_parser(prog: str, description: str, run_dir_help: str, task_help: str,
                   episodes: int | None = None) -> argparse.ArgumentParser:
    """The command line the picture modules share: RUN_DIR, [--episodes], --task, --seed, --out,
    --force (trajectories, choices, arena)."""
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("run_dir", type=Path, help=run_dir_help)
    if episodes is not None:
        ap.add_argument("--episodes", type=int, default=episodes)
    ap.add_argument("--task", type=int, default=0, help=task_help)
    ap.add_argument("--seed", type=int, default=0, help="evaluation seed (the evaluation's key)")
    ap.add_argument("--out", type=Path, default=None,
                    help="output directory (default RUN_DIR/figures)")
    ap.add_argument("--force", action="store_true", help="redraw even when unchanged")
    return ap


def draw_from_args(ap: argparse.ArgumentParser, argv, write) -> dict[str, Path]:
    """Parse a `picture_parser`'s argv and call write(run_dir, out, [episodes,] task, seed,
    force=...) -> its files; a run that cannot give the pictures exits with the reason."""
    args = ap.parse_args(argv)
    episodes = getattr(args, "episodes", None)
    if episodes is not None and episodes < 1:
        ap.error("--episodes must be at least 1")
    try:
        return write(args.run_dir, args.out, *([] if episodes is None else [episodes]),
                     args.task, args.seed, force=args.force)
    except PictureError as e:
        raise SystemExit(f"{ap.prog}: error: {e}") from None


def print_files(files: dict[str, Path]) -> None:
    for f in files.values():
        print(f"{f} ({f.stat().st_size / 1024:.0f} KB)")
