"""`make reproduce`: every experiment's preset, then experiments/REPORT.md with the paper's numbers.

    python -m adjax.experiments.reproduce --preset quick   # runs/<name>/, experiments/<name>/,
                                                           # then runs/a3c/<name>/, experiments/a3c/
    python -m adjax.experiments.reproduce --preset paper   # runs/paper/<name>/, experiments/paper/

Each experiment runs into its own run directory, reusing every stage already complete there (so
an interrupted reproduction continues, and `make darkroom` and this share runs/darkroom). The small
artefacts of each run (results JSON, summary, configuration, stage timings, figures) are copied
into the published directory, and the report is written from those copies.
"""

import dataclasses
import time
from pathlib import Path
from typing import Literal

import tyro

from adjax.experiments import (
    bandit,
    darkroom,
    darkroom_hard,
    key_to_door,
    single_stream,
    watermaze,
)
from adjax.experiments.command import with_overrides
from adjax.experiments.common import publish
from adjax.experiments.runner import run_experiment
from adjax.report.reproduction import write_report

MODULES = {"bandit": bandit, "darkroom": darkroom, "darkroom_hard": darkroom_hard,
           "key_to_door": key_to_door, "watermaze": watermaze, "single_stream": single_stream}
EXPERIMENTS = tuple(MODULES)


def presets(name: str) -> dict:
    """An experiment module's presets: {"quick": fn, "paper": fn, "tiny": fn, maybe "a3c": fn}."""
    if name not in MODULES:
        raise ValueError(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
    return MODULES[name].PRESETS


# Presets run beside a main preset where an experiment has them, each into its own directories
# (runs/<preset>/<name>, experiments/<preset>/<name>) and its own section of the same report:
# the quick presets distil Q-learning, the a3c presets the paper's own source (A2C).
BESIDE = {"quick": ("a3c",)}
# Published single runs reported after the experiments: `make darkroom-reference` (the main job
# with a larger refresh check, experiments/darkroom/main_job).
REFERENCES = ("darkroom/main_job",)


@dataclasses.dataclass(frozen=True)
class Args:
    """Run every experiment's preset (reusing complete stages), publish, write the report."""

    preset: Literal["quick", "paper", "tiny"] = "quick"  # quick also runs the a3c presets
    only: tuple[str, ...] = EXPERIMENTS  # a subset of the experiments
    runs: Path = Path("runs")  # run directories: runs/<name> (quick) or runs/<preset>/<name>
    publish: Path = Path("experiments")  # published: experiments/<name> or experiments/<preset>/
    seeds: int | None = None  # training seeds per experiment (default: each preset's)
    beside: bool = True  # also the presets run beside this one (quick: a3c) where they exist
    report_only: bool = False  # only rewrite REPORT.md from the published results (no run)


def preset_dir(name: str, preset: str) -> Path:
    """Where a preset's run of an experiment lives under runs/ and experiments/: <name> for the
    quick presets, <preset>/<name> for every other (a3c/key_to_door, paper/darkroom)."""
    return Path(name) if preset == "quick" else Path(preset) / name


def jobs(args: Args) -> list[tuple[str, str, Path]]:
    """(experiment, preset, sub-directory) to run, in order: the main preset for every
    experiment, then the presets beside it; each name and preset checked before any compute."""
    for name in args.only:
        presets(name)[args.preset]
    out = [(name, args.preset, preset_dir(name, args.preset)) for name in args.only]
    for extra in BESIDE.get(args.preset, ()) if args.beside else ():
        out += [(name, extra, preset_dir(name, extra)) for name in args.only
                if extra in presets(name)]
    return out


def main(args: Args) -> Path:
    todo = [] if args.report_only else jobs(args)
    for name, preset, sub in todo:
        t0 = time.perf_counter()
        print(f"=== {name} ({preset}) ===", flush=True)
        cfg = with_overrides(presets(name)[preset](), seeds=args.seeds)
        run_experiment(cfg, args.runs / sub, preset=preset)
        publish(args.runs / sub, args.publish / sub)
        print(f"=== {name} ({preset}): {time.perf_counter() - t0:.0f} s ===", flush=True)
    pub = args.publish / ("" if args.preset == "quick" else args.preset)
    names = [n for n in EXPERIMENTS if (pub / n / "results.json").exists()]
    for extra in BESIDE.get(args.preset, ()):
        names += [str(preset_dir(n, extra)) for n in EXPERIMENTS
                  if (pub / preset_dir(n, extra) / "results.json").exists()]
    names += [n for n in REFERENCES if (pub / n / "results.json").exists()]
    command = "make reproduce" + ("" if args.preset == "quick" else f" PRESET={args.preset}")
    command += "" if args.seeds is None else f" SEEDS={args.seeds}"
    path = write_report(pub, names, command=command)
    print(f"report: {path}")
    return path


if __name__ == "__main__":
    main(tyro.cli(Args))
