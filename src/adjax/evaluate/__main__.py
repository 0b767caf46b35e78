"""CLI: `python -m adjax.evaluate RUN_DIR --env NAME --split test --episodes N --seeds S`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import tyro

from adjax.evaluate.results import DEFAULT_BATCH, evaluate_run


@dataclass(frozen=True)
class Args:
    """In-context evaluation of a run: per-task, per-seed, per-episode returns -> JSON + PNG."""

    run_dir: tyro.conf.Positional[Path]
    env: str | None = None  # default: the env the run was trained on
    # test | val | train (a grid's fixed sets; choices are made on val, test only reports), both
    # (train and test), or a bandit distribution: val | odd | even | uniform
    split: str = "test"
    episodes: int = 100
    seeds: int = 5
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


def main(args: Args) -> None:
    splits = ("train", "test") if args.split == "both" else (args.split,)
    stem = f"{args.env}_{args.split}" if args.env else args.split
    out = args.out or args.run_dir / "eval" / f"{stem}.json"
    res = evaluate_run(args.run_dir, args.env, out, splits=splits, num_episodes=args.episodes,
                       num_seeds=args.seeds, seed=args.seed, num_tasks=args.tasks,
                       refresh_every=args.refresh_every, temperature=args.temperature,
                       greedy=args.greedy, baselines=args.baselines, ed_run_dir=args.ed,
                       batch_size=args.batch_size)
    for split, sec in res["splits"].items():
        for name, curve in sec["curves"].items():
            m = curve["summary"]["mean"]
            print(f"{split:>5} {name:>7}: first {m[0]:.3f}  last {m[-1]:.3f}")
    print(f"wrote {out} and {Path(out).with_suffix('.png')}")


if __name__ == "__main__":
    main(tyro.cli(Args))
