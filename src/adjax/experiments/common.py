"""The stages every experiment shares: collect -> train AD, ED -> evaluate in-context -> report."""

import dataclasses
import functools
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jax

from adjax import devices, distributed
from adjax.atomic import read_json, write_json
from adjax.evaluate.results import DEFAULT_BATCH
from adjax.model import ModelConfig, cpu_model
from adjax.train import TrainConfig


def quick_train(**overrides) -> TrainConfig:
    """The quick presets' optimisation: 1500 steps of 128 windows."""
    return TrainConfig(**{"batch_size": 128, "num_steps": 1500, "warmup_steps": 150,
                          "log_every": 50, "ckpt_every": 250, "steps_per_call": 10, **overrides})


def tiny_train(**overrides) -> TrainConfig:
    """The tiny presets' optimisation: 4 steps of 8 windows (plumbing, not learning)."""
    return TrainConfig(**{"batch_size": 8, "num_steps": 4, "warmup_steps": 2, "log_every": 2,
                          "ckpt_every": 2, "steps_per_call": 2, **overrides})


def tiny_model(obs_dims, num_actions: int, context_len: int, **overrides) -> ModelConfig:
    """The tiny presets' model: one layer of width 16."""
    return cpu_model(obs_dims, num_actions, context_len, **{
        "d_model": 16, "num_layers": 1, "num_heads": 2, "ff_dim": 32, **overrides})


@dataclasses.dataclass(frozen=True)
class SplitEval:
    """One evaluation split: its tasks, seeds per task, episodes, and the baselines run on it.

    split: "test" / "val" / "train" (a grid env's fixed sets) or a task distribution ("val",
    "odd", "even", "uniform" for the bandit). num_tasks: the first n tasks of a fixed set (None:
    all) or the number drawn from a distribution (None: 100). baselines: any of "random",
    "source", "optimal".
    """

    split: str
    num_seeds: int = 20
    num_episodes: int = 200
    num_tasks: int | None = None
    baselines: tuple[str, ...] = ("random", "source", "optimal")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    """In-context evaluation: the splits (the first is the headline), context refresh (None: an
    episode; 1: the paper's queue), sampling temperature, task x seed pairs per compiled call.
    refresh_check: a split on which each training seed's AD is evaluated again with the paper's
    queue (refresh every step) and with this refresh, same tasks and keys
    (`pipeline.refresh_check`, `pipeline.refresh_summary`)."""

    splits: tuple[SplitEval, ...] = (SplitEval("test"),)
    refresh_every: int | None = None
    temperature: float = 1.0
    batch_size: int = DEFAULT_BATCH
    refresh_check: SplitEval | None = None

    def __post_init__(self):
        if not self.temperature > 0:
            raise ValueError(f"EvalConfig.temperature must be > 0, got {self.temperature}")


def grid_splits(num_episodes: int, num_seeds: int, other_seeds: int,
                other_episodes: int | None = None, num_tasks: int | None = None,
                other_tasks: int | None = None,
                test_baselines: tuple[str, ...] = ("random", "source", "optimal"),
                **kw) -> EvalConfig:
    """Grid envs: held-out tasks ("test", the headline, with `test_baselines`), then the
    validation tasks ("val": where choices are made) and the training tasks ("train"), each with
    `other_seeds` seeds, `other_episodes` episodes and at most `other_tasks` tasks."""
    other = dict(num_seeds=other_seeds, num_episodes=other_episodes or num_episodes,
                 num_tasks=other_tasks, baselines=("random", "optimal"))
    test = SplitEval("test", num_seeds, num_episodes, num_tasks, baselines=test_baselines)
    return EvalConfig(splits=(test, SplitEval("val", **other), SplitEval("train", **other)), **kw)


@dataclasses.dataclass(frozen=True)
class SourceCurve:
    """The source algorithm learning a split's tasks from scratch, its mean return against every
    env step it consumed over all its actors (the paper's Fig. 4 source curves, on the same axis
    as AD's test-time steps): num_actors actors sharing one learner, num_steps steps in all."""

    num_actors: int
    num_steps: int
    num_seeds: int = 5
    split: str = "test"
    num_tasks: int | None = None  # the split's first n tasks (None: all)
    batch_size: int = 16  # task x seed pairs per compiled call (a run's rewards stay in memory)

    @property
    def name(self) -> str:
        return f"{self.num_actors} actor{'s' if self.num_actors > 1 else ''}"


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """Everything one experiment run does; presets are small functions returning one."""

    name: str
    env: str
    source: Any  # an adjax.sources Config
    model: ModelConfig
    train_ad: TrainConfig
    train_ed: TrainConfig | None  # None: AD alone (no expert data, no ED)
    eval: EvalConfig
    data_seeds: tuple[int, ...] = (0,)
    train_seeds: int = 1  # AD and ED are trained with seeds train.seed + 0 .. train_seeds - 1
    # The first training seed of this run: a run of seeds first_seed .. first_seed + train_seeds
    # - 1 is one shard of a larger run, each shard in its own directory, published and merged
    # into one experiment by `adjax.experiments.shards` (a run too long for one sitting).
    first_seed: int = 0
    num_train_tasks: int | None = None  # the first n tasks of the training set (None: all)
    normalise: bool = False  # also report scores (return - random) / (source - random)
    subsample_every: int = 1
    expert_episodes: int = 100
    chunk_size: int = 64
    # Learners run at a time on each device in collection and in the source curves
    # (`devices.map_tasks`): None, a whole chunk at once (for accelerators); a few, on a CPU,
    # keeps network learners' state in cache (the same bits, A2C ~2-3x faster). How, not what:
    # recorded in experiment.json only where set.
    task_batch: int | None = None
    source_curves: tuple[SourceCurve, ...] = ()  # the source on the env-step axis (A2C)
    # the env's make kwargs as sorted (name, value) pairs, e.g. Watermaze's (("height", 24),
    # ("width", 32)); () for the defaults. Collection records them, evaluation rebuilds from them.
    env_config: tuple[tuple[str, Any], ...] = ()
    # RL² (an `adjax.rl2.Config`), meta-trained on the training tasks for each training seed and
    # evaluated on every split beside AD (the paper's upper bound); None: no RL².
    rl2: Any = None

    def __post_init__(self):
        if self.train_seeds < 1:
            raise ValueError(f"ExperimentConfig.train_seeds must be >= 1, got {self.train_seeds}")
        if self.first_seed < 0:
            raise ValueError(f"ExperimentConfig.first_seed must be >= 0, got {self.first_seed}")
        if self.task_batch is not None and self.task_batch < 1:
            raise ValueError(f"ExperimentConfig.task_batch must be >= 1 or None, got "
                             f"{self.task_batch}")
        object.__setattr__(self, "env_config", tuple(sorted(
            (str(k), v) for k, v in dict(self.env_config).items())))

    @property
    def seeds(self) -> range:
        """The training seed indices this run trains and evaluates."""
        return range(self.first_seed, self.first_seed + self.train_seeds)

    @property
    def env_kwargs(self) -> dict:
        return dict(self.env_config)

    def to_dict(self) -> dict:
        """All fields (env_config, rl2, first_seed and task_batch only where set:
        experiment.json of the experiments without them unchanged)."""
        d = dataclasses.asdict(self)
        d["source"] = {"name": type(self.source).NAME, **dataclasses.asdict(self.source)}
        d["model"] = self.model.to_dict()
        d["train_ad"] = self.train_ad.to_dict()
        d["train_ed"] = None if self.train_ed is None else self.train_ed.to_dict()
        if self.env_config:
            d["env_config"] = self.env_kwargs
        else:
            del d["env_config"]
        if self.first_seed == 0:
            del d["first_seed"]
        if self.task_batch is None:
            del d["task_batch"]
        if self.rl2 is None:
            del d["rl2"]
        else:
            d["rl2"] = self.rl2.to_dict()
        return d


SOURCE_NAMES = {"qlearning": "Q-learning", "a2c": "A2C (synchronous A3C)", "ucb": "UCB"}


def source_name(source_cfg) -> str:
    """The source algorithm's name as reports print it."""
    return SOURCE_NAMES.get(type(source_cfg).NAME, type(source_cfg).NAME)


def machine() -> str:
    """This machine and the devices a run used ("... on 2 cpu device(s)"; in a multi-process
    job "... on 2 processes x 1 cpu device(s)")."""
    n = jax.process_count()
    procs = f"{n} processes x " if n > 1 else ""
    return (f"{os.cpu_count()} CPUs ({devices.cpu_name()}; {platform.machine()}), Python "
            f"{platform.python_version()}, "
            f"jax {jax.__version__} on {procs}{jax.local_device_count()} "
            f"{jax.default_backend()} device(s)")


@functools.cache
def code_version() -> str:
    """The code a run ran: "git <commit>" of the checkout the package was imported from, with
    "+local changes" when its files differ from that commit; "adjax <version>" for an installed
    package (no checkout around it). Recorded in results.json, so that shards run at different
    commits can be told apart (`adjax.experiments.shards`). Read once per process, when
    `runner.run_experiment` starts: a run of hours records the checkout it started from, not
    the one it ends in (commits made meanwhile are not the code it imported)."""
    import adjax

    here = Path(adjax.__file__).resolve().parent

    def git(*args):
        return subprocess.run(["git", "-C", str(here), *args], capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
    try:
        if (here.parent.parent / ".git").exists():  # src/adjax of a checkout, not site-packages
            dirty = git("status", "--porcelain", "--untracked-files=no", "--", str(here))
            return f"git {git('rev-parse', '--short=12', 'HEAD')}" + (
                " +local changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        pass
    return f"adjax {adjax.__version__}"


def command() -> str:
    """The command line of this process as a user would retype it (`python -m module args`)."""
    prog = sys.argv[0]
    if prog.endswith(".py") and "/adjax/" in prog:  # run as `python -m adjax....`
        mod = "adjax/" + prog.rsplit("/adjax/", 1)[1][: -len(".py")]
        prog = "-m " + mod.removesuffix("/__main__").replace("/", ".")
    return "python " + " ".join([prog, *map(shlex.quote, sys.argv[1:])])


def stage_file(path: Path) -> dict | None:
    """A stage's output JSON, or None when it is missing or damaged (unreadable, or its checksum
    no longer matching: a warning says so, and the deterministic stage runs again rather than
    being trusted)."""
    if not path.exists():
        return None
    try:
        return read_json(path)
    except ValueError as e:
        print(f"warning: {e}; running that stage again", flush=True)
        return None


class Stages:
    """Times each stage and records it in out/timings.json, and the code and machine that ran it
    in out/provenance.json ({stage: {"code", "machine"}}: a run resumed across sessions,
    checkouts or machines says which stage ran where); both kept across reruns. In a
    multi-process job every process runs every stage (each stage's functions split the work and
    let process 0 write), process 0 alone records, and all wait for each other at the end of a
    stage, so that the next stage's done-checks read the same files everywhere."""

    def __init__(self, out: Path):
        self.path = out / "timings.json"
        self.provenance_path = out / "provenance.json"
        self.times = json.loads(self.path.read_text()) if self.path.exists() else {}
        self.provenance = (json.loads(self.provenance_path.read_text())
                           if self.provenance_path.exists() else {})

    def run(self, name: str, fn, *, done: bool = False):
        if done:
            print(f"[{name}] already complete, reused", flush=True)
            return None
        print(f"[{name}] ...", flush=True)
        t0 = time.perf_counter()
        out = fn()
        self.times[name] = round(time.perf_counter() - t0, 1)
        self.provenance[name] = {"code": code_version(), "machine": machine()}
        if distributed.is_main():
            write_json(self.path, self.times, indent=2)
            write_json(self.provenance_path, self.provenance, indent=2)
        distributed.barrier(f"adjax-stage-{name}")
        print(f"[{name}] {self.times[name]:.0f} s", flush=True)
        return out


PUBLISHED = ("results.json", "summary.md", "experiment.json", "timings.json")


def publish(run_dir: Path, dest: Path, names: tuple[str, ...] = PUBLISHED) -> None:
    """Copy a run's small artefacts (`names`, the figures; no datasets, no checkpoints) to
    dest, replacing the old ones; everything else in dest (NOTES.md, probe scripts and their
    JSON, sweeps/: written beside the results, not by the run) is kept, except shards/: the
    shards an earlier result was merged from (`adjax.experiments.shards`), which this run's
    results replace (a later `shards merge` would otherwise rebuild the old ones)."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "figures").mkdir(parents=True)
    for name in names:
        shutil.copyfile(run_dir / name, tmp / name)
    for old in sorted(dest.iterdir()) if dest.is_dir() else ():
        if old.name in (*names, "figures", "shards"):
            continue
        if old.is_dir():
            shutil.copytree(old, tmp / old.name)
        else:
            shutil.copyfile(old, tmp / old.name)
    figures = ("*.png", "*.gif", "*_paths.json", "*_choices.json", "*_arena.json")
    for fig in sorted(f for pattern in figures for f in (run_dir / "figures").glob(pattern)):
        shutil.copyfile(fig, tmp / "figures" / fig.name)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.replace(dest)
