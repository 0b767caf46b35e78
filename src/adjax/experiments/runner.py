"""run_experiment: one ExperimentConfig through its stages (`adjax.experiments.pipeline`) into a
directory, reusing done ones, then results.json, figures and summary.md; the experiments' CLI.
"""

import contextlib
import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Literal

import numpy as np
import tyro

from adjax import distributed
from adjax.atomic import one_line_errors, read_json, write_json, write_text
from adjax.experiments.common import (
    ExperimentConfig,
    Stages,
    code_version,
    command,
    machine,
    publish,
    source_name,
)
from adjax.experiments.pipeline import STAGES, TRAINED, TRAINING_STAGES, Run
from adjax.lock import DirLock
from adjax.model import ModelConfig, lstm_like
from adjax.report import (
    plot_curves,
    plot_scores,
    plot_source_steps,
    results_table,
    scores_table,
    source_steps_table,
)
from adjax.report.arena import summary_figures as arena_figures
from adjax.report.choices import summary_figures as choice_figures
from adjax.report.reproduction import refresh_line
from adjax.report.tables import TRAINED_METHODS, rl2_line
from adjax.report.trajectories import summary_figures as trajectory_figures
from adjax.stats import mean_ci, seed_curves, step_bin, tenth
from adjax.train import TrainConfig, with_defaults

# Config fields that may change between invocations on one directory: more training seeds add
# runs; other evaluation settings redo the evaluations (training and data are reused); RL² is a
# method beside AD (its runs live apart, in runs/rl2, and are checked against their own config);
# task_batch changes how collection runs, not its bits.
RESUMABLE = {"train_seeds", "eval", "source_curves", "rl2", "task_batch"}


def _check_config(cfg: ExperimentConfig, out: Path) -> None:
    """A directory belongs to one configuration: refuse to mix, name the first differing field."""
    path = out / "experiment.json"
    new = json.loads(json.dumps(cfg.to_dict()))
    if path.exists():
        old = read_json(path)
        for key, config_cls in (("model", ModelConfig), ("train_ad", TrainConfig),
                                ("train_ed", TrainConfig)):
            if isinstance(old.get(key), dict):
                old[key] = with_defaults(config_cls, old[key])
        for key in sorted(set(old) | set(new)):
            if old.get(key) == new.get(key):
                continue
            if key == "eval":
                print(f"{path}: evaluation settings changed; evaluations made with the old ones "
                      "are redone, training is reused", flush=True)
            elif key not in RESUMABLE:
                raise ValueError(
                    f"{path}: field {key!r} differs from this run's configuration "
                    f"({old.get(key)!r} != {new.get(key)!r}); use another --out or delete {out}")
    distributed.barrier(f"adjax-experiment-config-{out}")  # every process has compared it
    if distributed.is_main():
        write_json(path, new)


def _source_summary(source: dict, methods: dict, episode_len: int) -> dict:
    """The source's env-step curve against AD's test-time curve on the same split: the source's
    return when it has consumed as many env steps as AD's last evaluated episode (the paper's
    comparison in Fig. 4 / 6), the steps it needs to reach AD's last-10% return, and whether AD
    is above it at every step from its episode 20 on (AD's step (e + 1) * L against the source
    bin that step falls in)."""
    steps = np.asarray(source["steps"])
    runs = np.asarray(source["per_seed"], np.float64)  # [S, B]
    mean = runs.mean(axis=0)
    out = {"steps_consumed": source["steps_consumed"], "num_actors": source["num_actors"],
           "seeds": int(runs.shape[0]), "final": round(float(mean[-1]), 3)}
    ad = methods.get("AD")
    if not isinstance(ad, dict):
        return out
    ad_runs, _ = seed_curves(ad)
    ad_mean = ad_runs.mean(axis=0)
    E = ad_mean.shape[0]

    def at(step: int) -> int:  # past the source's last step: its last bin
        b = step_bin(steps, step)
        return steps.size - 1 if b is None else b

    b = at(E * episode_len)
    r, half = mean_ci(runs[:, b])
    target = float(ad_mean[E - tenth(E):].mean())
    reached = np.flatnonzero(mean >= target)
    from_ep = min(20, E)
    src_at = np.array([mean[at((e + 1) * episode_len)] for e in range(from_ep - 1, E)])
    out.update({
        "ad_episodes": E, "ad_steps": E * episode_len,
        "at_ad_steps": round(float(r), 3), "at_ad_steps_ci95": round(float(half), 3),
        "at_ad_steps_bin_end": int(steps[b]),
        "ad_last_10pct": round(target, 3),
        "steps_to_ad_last_10pct": int(steps[reached[0]]) if reached.size else None,
        "ad_above_from_episode_20": bool(np.all(ad_mean[from_ep - 1:] > src_at)),
    })
    return out


def _summary(curves: dict, split: str, method: str) -> dict | None:
    """First / last 10% of a curve: mean, the 95% interval over training seeds (evaluation seeds
    when there is one training seed) and, beside it, the interval over evaluation seeds."""
    m = curves.get(split, {}).get(method)
    if not isinstance(m, dict):
        return None
    runs, unit = seed_curves(m)
    evals = np.asarray(m["per_seed"], np.float64)
    n = runs.shape[1]
    k = tenth(n)
    out = {"episodes": n, "tasks": m["num_tasks"], "eval_seeds": int(evals.shape[0]),
           "train_seeds": len(m.get("per_train_seed", [])) or None, "interval_over": unit}
    for name, part in (("first_10pct", slice(0, k)), ("last_10pct", slice(n - k, n))):
        mean, half = mean_ci(runs[:, part].mean(axis=1))
        _, eval_half = mean_ci(evals[:, part].mean(axis=1))
        out[name] = round(float(mean), 3)
        out[f"{name}_ci95"] = round(float(half), 3)
        out[f"{name}_eval_ci95"] = round(float(eval_half), 3)
    return out


def normalised_scores(curves: dict) -> dict:
    """{split: {method: {"per_seed", "mean", "ci95"}}}: each training seed's (or, with one, each
    evaluation seed's) mean return over all episodes as (x - random) / (source - random), random
    and source averaged over all their seeds (the paper's bandit score: 0 is random, 1 the source
    algorithm on the same tasks)."""
    scores = {}
    for split, methods in curves.items():
        if "random" not in methods or "source" not in methods:
            continue
        lo = float(np.mean(methods["random"]["per_seed"]))
        hi = float(np.mean(methods["source"]["per_seed"]))
        scores[split] = {"random_return": round(lo, 4), "source_return": round(hi, 4)}
        if hi - lo < 1e-6:  # e.g. toy runs: the scale is undefined, so no score
            continue
        for method in TRAINED_METHODS:
            if method in methods:
                runs, unit = seed_curves(methods[method])
                per_seed = (runs.mean(axis=1) - lo) / (hi - lo)
                mean, half = mean_ci(per_seed)
                scores[split][method] = {"per_seed": per_seed.round(4).tolist(),
                                         "interval_over": unit, "mean": round(float(mean), 4),
                                         "ci95": round(float(half), 4)}
    return scores


def run_experiment(cfg: ExperimentConfig, out, preset: str = "custom", progress: bool = True,
                   data_dir: Path | None = None):
    """Collect -> train AD, ED (each training seed) -> evaluate every split -> results, figures.

    data_dir: where the datasets are (default out/data); runs that collect the same data (the
    variants of an ablation) share one. cfg.train_ed None: AD alone (no expert data, no ED).
    One process at a time per directory (a second one is refused at once: adjax.lock). In a
    multi-process job (adjax.distributed) every process runs it, and process 0 holds the lock
    and writes the experiment's own files (the stages write theirs the same way)."""
    code_version()  # the checkout this run starts from (cached for its results.json)
    with _opened(cfg, out, progress, data_dir) as run:
        return _run_experiment(run, preset)


def train_only(cfg: ExperimentConfig, out, progress: bool = True,
               data_dir: Path | None = None) -> dict:
    """`run_experiment`'s collection and training stages alone: the trained runs under
    out/runs/<method>/seed<k>, nothing evaluated (what a later `run_experiment` of the same
    configuration in out resumes from, and what a picture of one trained seed needs).
    -> {(method, seed): run directory}."""
    with _opened(cfg, out, progress, data_dir) as run:
        for stage in TRAINING_STAGES:
            stage(run)
        return run.run_dirs


@contextlib.contextmanager
def _opened(cfg: ExperimentConfig, out, progress: bool, data_dir: Path | None):
    """The experiment directory out, locked (process 0) and checked against cfg, as a `Run`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = (DirLock(out / ".lock", "experiment directory") if distributed.is_main()
            else contextlib.nullcontext())
    with lock:
        _check_config(cfg, out)
        yield Run(cfg, out, Stages(out), out / "data" if data_dir is None else Path(data_dir),
                  progress)


def _with_rl2(curves: dict, rl2_curves: dict) -> dict:
    """Each split's curves with RL²'s after the trained methods, before the baselines."""
    out = {}
    for split, methods in curves.items():
        trained = {k: v for k, v in methods.items() if k in TRAINED.values()}
        out[split] = {**trained, **rl2_curves.get(split, {}),
                      **{k: v for k, v in methods.items() if k not in trained}}
    return out


def _results(run: Run, preset: str, made: dict, seconds: float) -> dict:
    """results.json: the curves, the checks, and the summary of each method on each split."""
    cfg, curves = run.cfg, _with_rl2(made["curves"], made.get("rl2_curves", {}))
    results = {
        "experiment": cfg.name, "preset": preset, "env": cfg.env,
        "source_name": source_name(cfg.source), "train_seeds": cfg.train_seeds,
        **({"first_seed": cfg.first_seed} if cfg.first_seed else {}),
        "episode_len": made["episode_len"], "command": command(), "code": code_version(),
        "machine": machine(),
        "wall_time_s": dict(run.stages.times), "invocation_s": round(seconds, 1),
        "provenance": run.stages.provenance,
        "curves": curves,
        **({"refresh": made["refresh"]} if "refresh" in made else {}),
        **({"rl2": made["rl2"]} if "rl2" in made else {}),
        "summary": {f"{m} {s}": _summary(curves, s, m) for s in curves
                    for m in (*TRAINED_METHODS, "source", "random") if _summary(curves, s, m)},
    }
    if made.get("source_curves"):
        L = results["episode_len"]
        results["source_curves"] = {
            name: {k: d[k] for k in ("split", "num_actors", "steps_consumed", "num_seeds",
                                     "num_tasks", "steps", "per_seed")}
            for name, d in made["source_curves"].items()}
        results["summary"].update({
            f"source {name} {d['split']}": _source_summary(d, curves.get(d["split"], {}), L)
            for name, d in made["source_curves"].items()})
    if cfg.normalise:
        results["scores"] = normalised_scores(curves)
    return results


def _run_experiment(run: Run, preset: str):
    cfg, out = run.cfg, run.out
    t_start = time.perf_counter()
    made = {}
    for stage in STAGES:
        made.update(stage(run))
    results = _results(run, preset, made, time.perf_counter() - t_start)
    if distributed.is_main():
        write_json(out / "results.json", results, checksum=True)
    distributed.barrier(f"adjax-experiment-results-{out}")
    # Every process of a job draws AD's paths (restoring AD is collective); process 0 writes.
    # Grid envs: AD's paths on a held-out task; the bandit: its arm pulls over a trial;
    # Watermaze: its frames and paths on a held-out platform. All of AD training seed 0: a shard
    # of other seeds draws none.
    paths = []
    if 0 in cfg.seeds:
        paths = (trajectory_figures(results, out) + choice_figures(results, out)
                 + arena_figures(results, out))
    if distributed.is_main():
        _write_summary(results, out, run.learn_dir / "learning_curve.png", run.stages.times,
                       paths)
    return results


def _write_summary(results: dict, out: Path, source_curve: Path, times: dict,
                   paths: list[Path]) -> None:
    """summary.md and the curve figures of `results` in out; `paths`: the figures already drawn
    (trajectories), listed after the curves; `source_curve`: the source's learning-curve PNG,
    copied beside them when it exists."""
    name, preset = results["experiment"], results["preset"]
    figs = [plot_curves(results, out / "figures" / f"{name}.png",
                        title=f"{name} ({preset} preset): in-context return per episode")]
    table = results_table(results)
    if "scores" in results:
        figs.insert(0, plot_scores(results, out / "figures" / f"{name}_scores.png",
                                   title=f"{name} ({preset} preset): normalised score"))
        table = f"{scores_table(results)}\n{table}"
    if "source_curves" in results:
        figs.append(plot_source_steps(results, out / "figures" / f"{name}_source_steps.png",
                                      title=f"{name} ({preset} preset): AD against "
                                            f"{results['source_name']} on the env-step axis"))
        table += f"\n{source_steps_table(results)}"
    figs += paths
    if source_curve.exists() and source_curve != out / "figures" / "source_learning_curve.png":
        shutil.copyfile(source_curve, out / "figures" / "source_learning_curve.png")
    if "refresh" in results:
        table += f"\n{refresh_line(results['refresh'])}\n"
    if "rl2" in results:
        table += f"\n{rl2_line(results['rl2'])}\n"
    images = "".join(f"![{f.stem}](figures/{f.name})\n" for f in figs)
    shards = "".join(f"- training seeds {', '.join(map(str, s['seeds']))}: `{s['command']}` "
                     f"({s['machine']})\n" for s in results.get("shards", []))
    write_text(out / "summary.md",
        f"# {name} ({preset} preset)\n\nCommand: `{results['command']}`\n\n"
        + (f"Merged from the shards in `shards/` (`adjax.experiments.shards`):\n\n{shards}\n"
           if shards else "") +
        f"Machine: {results['machine']}\n\nSource algorithm: {results['source_name']}; "
        f"training seeds: {results['train_seeds']}.\n\nWall time per stage (s): "
        f"{json.dumps(times)}\n\n{table}\n{images}"
        "![source learning curve](figures/source_learning_curve.png)\n")
    print(f"\nfigures: {', '.join(map(str, figs))}\nsummary: {out / 'summary.md'}\n"
          f"results: {out / 'results.json'}\n")
    print(table)


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

    preset: str = "quick"  # quick: 2-core CPU; a3c: the paper's source on a CPU; paper: accelerator
    out: Path | None = None  # the run directory (default runs/<experiment>)
    seeds: int | None = None  # training seeds (default: the preset's)
    first_seed: int = 0
    """the first training seed: a shard of a longer run (`--first-seed 1 --seeds 1` trains seed 1
    alone; publish and merge shards with `python -m adjax.experiments.shards`)"""
    episodes: int | None = None  # evaluation episodes on the held-out split (default: preset's)
    model: Literal["transformer", "lstm"] = "transformer"
    """lstm: LSTM-AD (default out runs/<experiment>-lstm)"""
    lstm_size: Literal["paper", "cpu", "tiny"] | None = None
    """LSTM-AD's size (`adjax.model.config.LSTM_SIZES`; paper: an LSTM of 512). Default: the
    preset's machine (paper for paper, tiny for tiny, else cpu); another size adds
    -<size> to the default out"""
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
    args = tyro.cli(Args, args=argv, description=f"{name}: {Args.__doc__}")
    cfg, out = resolve(name, presets, args)
    with one_line_errors(f"python -m adjax.experiments.{name}", hard_exit=argv is None):
        results = run_experiment(cfg, out, preset=args.preset)
        if args.publish is not None:
            publish(out, args.publish)
            print(f"published: {args.publish}")
    print(json.dumps(results["summary"], indent=1))
    return results
