"""run_experiment: one ExperimentConfig through its stages (`adjax.experiments.pipeline`) into a
directory, reusing done ones, then results.json, figures and summary.md (the experiments' command
line, which calls it, is `adjax.experiments.command`).
"""

import contextlib
import json
import shutil
import time
from pathlib import Path

import numpy as np

from adjax import distributed
from adjax.atomic import read_json, write_json, write_text
from adjax.experiments.common import (
    ExperimentConfig,
    Stages,
    code_version,
    command,
    machine,
    source_name,
)
from adjax.experiments.pipeline import STAGES, TRAINED, TRAINING_STAGES, Run
from adjax.lock import DirLock
from adjax.model import ModelConfig
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
from adjax.stats import mean_ci, normalised_score, seed_curves, step_bin, tenth
from adjax.train import TrainConfig, with_defaults
from adjax.train.config import check_state_loss

# Config fields that may change between invocations on one directory: more training seeds add
# runs; other evaluation settings redo the evaluations (training and data are reused); RL² is a
# method beside AD (its runs live apart, in runs/rl2, and are checked against their own config);
# task_batch changes how collection runs, not its bits.
RESUMABLE = {"train_seeds", "eval", "source_curves", "rl2", "task_batch"}


def config_with_defaults(old: dict) -> dict:
    """A written experiment.json's configuration with the model and training fields added since
    it was written filled in at their defaults (what that run used)."""
    old = dict(old)
    for key, config_cls in (("model", ModelConfig), ("train_ad", TrainConfig),
                            ("train_ed", TrainConfig)):
        if isinstance(old.get(key), dict):
            old[key] = with_defaults(config_cls, old[key])
    return old


def _check_config(cfg: ExperimentConfig, out: Path) -> None:
    """A directory belongs to one configuration: refuse to mix, name the first differing field."""
    path = out / "experiment.json"
    new = json.loads(json.dumps(cfg.to_dict()))
    if path.exists():
        old = config_with_defaults(read_json(path))
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
                scores[split][method] = normalised_score(methods[method], lo, hi)
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
    for train in (cfg.train_ad, cfg.train_ed):  # ED's training too, before AD's hours
        if train is not None:
            check_state_loss(cfg.model, train)
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
