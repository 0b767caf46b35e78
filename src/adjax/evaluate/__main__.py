"""CLI: `python -m adjax.evaluate RUN_DIR --env NAME --split test --episodes N --seeds S`."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import numpy as np
import tyro

from adjax import envs
from adjax.atomic import one_line_errors, read_json
from adjax.checkpoints import CONFIG, RunConfigError, read_config
from adjax.evaluate.results import DEFAULT_BATCH, EvalSpec, evaluate_run, evaluation_settings
from adjax.sources.common import obs_dims


@dataclass(frozen=True)
class Args:
    """In-context evaluation of a run: per-task, per-seed, per-episode returns -> JSON + PNG."""

    run_dir: tyro.conf.Positional[Path]
    env: str | None = None  # default: the env the run was trained on
    split: Annotated[str, tyro.conf.arg(help=(
        "test | val | train (a grid's fixed sets; choices are made on val, test only reports), "
        "both (train and test), or a bandit distribution: val | odd | even | uniform"))] = "test"
    episodes: int = 100  # episodes per task and evaluation seed
    seeds: int = 5  # evaluation seeds per task
    out: Path | None = None  # default RUN_DIR/eval/<env>_<split>.json; the figure goes beside it
    seed: int = 0
    tasks: int | None = None  # first N tasks of the split (all by default)
    refresh_every: int | None = None  # b; default one episode
    temperature: float = 1.0
    greedy: bool = False
    baselines: Annotated[tuple[str, ...], tyro.conf.arg(help="of random, optimal")] = (
        "random", "optimal")
    ed: Path | None = None  # an expert-distillation run dir, evaluated on the same tasks
    batch_size: int = DEFAULT_BATCH  # task x seed pairs per compiled call (raise on a GPU/TPU)
    overwrite: bool = False  # replace an existing --out evaluated with other settings


def check_args(args: Args) -> None:
    """Errors naming the argument and its value before loading anything: counts >= 1, a finite
    positive temperature, a known env and split, and an env whose spaces are the run's."""
    for name in ("episodes", "seeds", "tasks", "refresh_every", "batch_size"):
        v = getattr(args, name)
        if v is not None and v < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
    if not (math.isfinite(args.temperature) and args.temperature > 0):
        raise ValueError(f"--temperature must be a finite number > 0, got {args.temperature}")
    data = read_config(args.run_dir).get("data", {})
    env = args.env or data.get("env")
    if env not in envs.ENV_NAMES:
        raise ValueError(f"--env {env!r}: unknown env; known: {', '.join(envs.ENV_NAMES)}")
    splits = ((*envs.SPLITS, "both") if envs.has_task_sets(env)
              else tuple(envs.registry.BANDIT_STREAMS))
    if args.split not in splits:
        raise ValueError(f"--split {args.split!r}: not a split of {env}; known: "
                         f"{', '.join(splits)}")
    # the env as the run's data were collected (its make kwargs, e.g. Watermaze's resolution)
    env_obj, _ = envs.make(env, **(data.get("env_kwargs", {}) if env == data.get("env") else {}))
    shape = tuple(env_obj.observation_space(env_obj.default_params).shape)
    dims = obs_dims(env_obj) if len(shape) == 1 else shape  # frames: the image encoder's (H, W, C)
    have = {"obs_dims": list(dims), "num_actions": int(env_obj.num_actions)}
    for key, v in have.items():
        if key in data and list(np.atleast_1d(data[key])) != list(np.atleast_1d(v)):
            raise RunConfigError(f"--env {env}: {key} {v} differs from the run's {data[key]} "
                                 f"({args.run_dir / CONFIG}: trained on {data.get('env')!r})")


def complete(out: Path, args: Args, splits: tuple[str, ...]) -> bool:
    """Whether `out` holds this evaluation (same `evaluation_settings` and splits); one
    evaluated otherwise is refused, naming what differs, so that it is not lost silently. A
    damaged file is evaluated again."""
    try:
        old = read_json(out)
    except ValueError as e:
        print(f"warning: {e}; evaluating again", flush=True)
        return False
    want = {**evaluation_settings(spec(args, splits), args.run_dir, args.ed),
            "splits": list(splits)}
    have = {**{k: old.get(k) for k in want}, "env_kwargs": old.get("env_kwargs", {}),
            "splits": list(old.get("splits", {}))}
    diff = {k: (have[k], v) for k, v in json.loads(json.dumps(want)).items() if have[k] != v}
    if diff:
        raise ValueError(f"{out}: evaluated with other settings (stored, asked): {diff}; "
                         "choose another --out, or --overwrite")
    return True


def spec(args: Args, splits) -> EvalSpec:
    return EvalSpec(env=args.env, splits=tuple(splits), num_episodes=args.episodes,
                    num_seeds=args.seeds, seed=args.seed, num_tasks=args.tasks,
                    refresh_every=args.refresh_every, temperature=args.temperature,
                    greedy=args.greedy, baselines=tuple(args.baselines))


def main(args: Args) -> None:
    check_args(args)
    splits = ("train", "test") if args.split == "both" else (args.split,)
    stem = f"{args.env}_{args.split}" if args.env else args.split
    out = args.out or args.run_dir / "eval" / f"{stem}.json"
    if Path(out).exists() and not args.overwrite and complete(out, args, splits):
        print(f"{out}: already complete with these settings (the run's checkpoint included), "
              "nothing to do")
        return
    res = evaluate_run(args.run_dir, out, spec(args, splits), ed_run_dir=args.ed,
                       batch_size=args.batch_size)
    for split, sec in res["splits"].items():
        for name, curve in sec["curves"].items():
            m = curve["summary"]["mean"]
            print(f"{split:>5} {name:>7}: first {m[0]:.3f}  last {m[-1]:.3f}")
    print(f"wrote {out} and {Path(out).with_suffix('.png')}")


if __name__ == "__main__":
    args = tyro.cli(Args)
    with one_line_errors("python -m adjax.evaluate"):
        main(args)
