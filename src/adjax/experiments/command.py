"""The experiments' command line: `python -m adjax.experiments.<name> [--preset P] [--out DIR]
[--seeds N] ...` resolves a preset with its overrides (`with_overrides`, `resolve`: every flag
checked before anything runs), then runs it (`adjax.experiments.runner.run_experiment`)."""

import dataclasses
import json
from pathlib import Path
from typing import Literal

import tyro

from adjax.atomic import one_line_errors
from adjax.experiments.common import ExperimentConfig, publish
from adjax.experiments.runner import run_experiment
from adjax.model import lstm_like


def with_overrides(cfg: ExperimentConfig, seeds: int | None = None,
                   episodes: int | None = None, lstm: str | None = None,
                   first_seed: int | None = None,
                   refresh_seeds: int | None = None, ad_only: bool = False) -> ExperimentConfig:
    """The preset with `seeds` training seeds (from `first_seed`: a shard) and/or `episodes`
    evaluation episodes on its headline split (the first); with `lstm` (a size of
    `adjax.model.config.LSTM_SIZES`), AD and ED are LSTM-AD (`adjax.model.lstm_like` of the
    preset's model); with `refresh_seeds`, its refresh check (`EvalConfig.refresh_check`) on
    that many evaluation seeds per task (a preset without one: ValueError); with `ad_only`, AD
    alone: no expert data, no ED and no refresh check (a check of the context refresh, not of
    AD), what a study of AD itself needs."""
    if ad_only and refresh_seeds is not None:
        raise ValueError("ad_only drops the refresh check that refresh_seeds sizes")
    if ad_only:
        cfg = dataclasses.replace(cfg, train_ed=None, eval=dataclasses.replace(
            cfg.eval, refresh_check=None))
    if refresh_seeds is not None:
        if cfg.eval.refresh_check is None:
            raise ValueError(f"{cfg.name}: refresh_seeds={refresh_seeds}, but this preset has "
                             "no refresh check (eval.refresh_check)")
        check = dataclasses.replace(cfg.eval.refresh_check, num_seeds=refresh_seeds)
        cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, refresh_check=check))
    if lstm is not None:
        cfg = dataclasses.replace(cfg, model=lstm_like(cfg.model, lstm))
    if seeds is not None:
        cfg = dataclasses.replace(cfg, train_seeds=seeds)
    if first_seed is not None:
        cfg = dataclasses.replace(cfg, first_seed=first_seed)
    if episodes is not None:
        head = dataclasses.replace(cfg.eval.splits[0], num_episodes=episodes)
        cfg = dataclasses.replace(cfg, eval=dataclasses.replace(
            cfg.eval, splits=(head, *cfg.eval.splits[1:])))
    return cfg


@dataclasses.dataclass(frozen=True)
class Args:
    """Run the experiment end to end; rerunning continues where it stopped."""

    preset: str = "quick"  # one of the experiment's presets, listed above (quick: 2-core CPU)
    out: Path | None = None  # the run directory (default runs/<experiment>)
    seeds: int | None = None  # training seeds (default: the preset's)
    first_seed: int = 0
    """the first training seed: a shard of a longer run (`--first-seed 1 --seeds 1` trains seed 1
    alone; publish and merge shards with `python -m adjax.experiments.shards`)"""
    episodes: int | None = None  # evaluation episodes on the held-out split (default: preset's)
    model: Literal["transformer", "lstm"] = "transformer"
    """lstm: LSTM-AD (default out runs/<experiment>-lstm)"""
    lstm_size: Literal["paper", "cpu", "wide", "tiny"] | None = None
    """LSTM-AD's size (`adjax.model.config.LSTM_SIZES`; paper: an LSTM of 512 and a 2 x 256
    head; wide: 512 and the CPU size's 2 x 128 head, Key-to-Door's choice). Default:
    the preset's machine (paper for paper, tiny for tiny, else cpu); another size adds -<size>
    to the default out"""
    refresh_seeds: int | None = None
    """evaluation seeds per task of the paper's queue against the block refresh (default: the
    preset's); only that check is redone. Dark Room quick, 200 episodes: 5 seeds x 16 held-out
    goals gave a 95% interval on the difference of ±0.7 over all episodes and ±1.0 over the last
    20, 15 seeds ±0.4 and ±0.6"""
    publish: Path | None = None
    """when the run is complete, copy its small artefacts (results, summary, configuration,
    timings, figures) here, keeping everything else there (notes)"""
    ad_only: bool = False
    """AD alone: no expert data, no ED, no refresh check (e.g. LSTM-AD against the
    transformer's published AD)"""


def resolve(name: str, presets: dict, args: Args) -> tuple[ExperimentConfig, Path]:
    """The configuration and run directory `args` ask of experiment `name`, every flag checked
    (SystemExit naming it) before anything runs."""
    if args.preset not in presets:
        raise SystemExit(f"{name}: unknown preset {args.preset!r}; known: {', '.join(presets)}")
    for flag, v in (("--seeds", args.seeds), ("--episodes", args.episodes),
                    ("--refresh-seeds", args.refresh_seeds)):
        if v is not None and v < 1:
            raise SystemExit(f"{name}: {flag} must be >= 1, got {v}")
    if args.first_seed < 0:
        raise SystemExit(f"{name}: --first-seed must be >= 0, got {args.first_seed}")
    if args.lstm_size is not None and args.model != "lstm":
        raise SystemExit(f"{name}: --lstm-size {args.lstm_size} sizes LSTM-AD: add --model lstm")
    default_size = args.preset if args.preset in ("paper", "tiny") else "cpu"
    lstm = (args.lstm_size or default_size) if args.model == "lstm" else None
    try:
        cfg = with_overrides(presets[args.preset](), args.seeds, args.episodes, lstm,
                             args.first_seed or None, args.refresh_seeds, args.ad_only)
    except ValueError as e:
        raise SystemExit(f"{name}: {e}") from None
    out = args.out or Path("runs") / "".join((
        name, "" if lstm is None else "-lstm", "" if lstm in (None, default_size) else f"-{lstm}",
        f"-seed{args.first_seed}" if args.first_seed else ""))
    return cfg, out


def cli(name: str, presets: dict, argv=None) -> dict:
    """`python -m adjax.experiments.<name> [--preset P] [--out DIR] [--seeds N]`. argv None (the
    command's own process, reading sys.argv): an expected error leaves the process at once after
    its line (`one_line_errors(hard_exit=True)`: orbax's writer threads, failing on the same full
    disk, print nothing after it); with argv (in-process callers) it raises SystemExit."""
    args = tyro.cli(Args, args=argv, description=f"{name}: {Args.__doc__} Presets: "
                    f"{', '.join(presets)}.")
    cfg, out = resolve(name, presets, args)
    with one_line_errors(f"python -m adjax.experiments.{name}", hard_exit=argv is None):
        results = run_experiment(cfg, out, preset=args.preset)
        if args.publish is not None:
            publish(out, args.publish)
            print(f"published: {args.publish}")
    print(json.dumps(results["summary"], indent=1))
    return results
