"""run_experiment: one ExperimentConfig through every stage into a directory, reusing done ones."""

import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Literal

import numpy as np

from adjax import data
from adjax.evaluate import evaluate_run
from adjax.experiments.common import (
    ExperimentConfig,
    Stages,
    command,
    machine,
    report_curves,
    write_json,
)
from adjax.model import ModelConfig
from adjax.report import mean_ci, plot_curves, plot_scores, results_table, scores_table
from adjax.train import TrainConfig, fit, load_run, with_defaults

CURVE_NAMES = {"agent": "AD", "ed": "ED", "source": "source", "random": "random"}


def _check_config(cfg: ExperimentConfig, out: Path) -> None:
    """A directory belongs to one configuration: refuse to mix, name the first differing field."""
    path = out / "experiment.json"
    new = json.loads(json.dumps(cfg.to_dict()))
    if path.exists():
        old = json.loads(path.read_text())
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
            else:
                raise ValueError(
                    f"{path}: field {key!r} differs from this run's configuration "
                    f"({old.get(key)!r} != {new.get(key)!r}); use another --out or delete {out}")
    write_json(path, new)


def _evaluated(path: Path, se, ev, temperature: float | None = None, baselines=None) -> bool:
    """An evaluation JSON exists and was made with this split's settings (at `temperature`,
    default the eval's, with these baselines, default the split's)."""
    if not path.exists():
        return False
    try:
        d = json.loads(path.read_text())
        split = d["splits"][se.split]
        want = {"num_episodes": se.num_episodes, "num_seeds": se.num_seeds,
                "refresh_every": ev.refresh_every,
                "temperature": ev.temperature if temperature is None else temperature}
        same = all(d.get(k) == v for k, v in want.items())
        tasks_ok = se.num_tasks is None or split["num_tasks"] == se.num_tasks
        curves = set(split["curves"])
        baselines = se.baselines if baselines is None else baselines
        return same and tasks_ok and {b for b in baselines if b != "optimal"} <= curves
    except (KeyError, ValueError, TypeError):
        return False


def _trained(run_dir: Path, num_steps: int) -> bool:
    try:
        return load_run(run_dir)[2]["step"] >= num_steps
    except Exception:  # noqa: BLE001 - any unreadable run is simply not finished
        return False


def _summary(curves: dict, split: str, method: str) -> dict | None:
    m = curves.get(split, {}).get(method)
    if m is None:
        return None
    per_seed = np.asarray(m["per_seed"])
    n = per_seed.shape[1]
    k = max(1, n // 10)
    first, first_h = mean_ci(per_seed[:, :k].mean(axis=1))
    last, last_h = mean_ci(per_seed[:, n - k:].mean(axis=1))
    return {"first_10pct": round(float(first), 3), "first_10pct_ci95": round(float(first_h), 3),
            "last_10pct": round(float(last), 3), "last_10pct_ci95": round(float(last_h), 3),
            "episodes": n, "seeds": int(per_seed.shape[0]), "tasks": m["num_tasks"]}


def normalised_scores(curves: dict) -> dict:
    """{split: {method: {"per_seed", "mean", "ci95"}}}: each seed's mean return over all episodes,
    as (x - random) / (source - random), random and source averaged over all their seeds (the
    paper's bandit score: 0 is random, 1 the source algorithm on the same tasks)."""
    scores = {}
    for split, methods in curves.items():
        if "random" not in methods or "source" not in methods:
            continue
        lo = float(np.mean(methods["random"]["per_seed"]))
        hi = float(np.mean(methods["source"]["per_seed"]))
        scores[split] = {"random_return": round(lo, 4), "source_return": round(hi, 4)}
        if hi - lo < 1e-6:  # e.g. toy runs: the scale is undefined, so no score
            continue
        for method in ("AD", "ED"):
            if method in methods:
                per_seed = (np.asarray(methods[method]["per_seed"]).mean(axis=1) - lo) / (hi - lo)
                mean, half = mean_ci(per_seed)
                scores[split][method] = {"per_seed": per_seed.round(4).tolist(),
                                         "mean": round(float(mean), 4),
                                         "ci95": round(float(half), 4)}
    return scores


def run_experiment(cfg: ExperimentConfig, out, preset: str = "custom", progress: bool = True):
    """Collect -> train AD, ED -> evaluate on held-out and training tasks -> results, figure."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _check_config(cfg, out)
    t_start = time.perf_counter()
    stages = Stages(out)
    learn_dir, expert_dir = out / "data" / "learning", out / "data" / "expert"
    ad_dir, ed_dir = out / "runs" / "ad", out / "runs" / "ed"
    tasks = None if cfg.num_train_tasks is None else list(range(cfg.num_train_tasks))
    common = dict(split="train", seeds=cfg.data_seeds, chunk_size=cfg.chunk_size,
                  task_indices=tasks, progress=progress)
    stages.run("collect learning histories", lambda: data.collect(
        cfg.source, cfg.env, learn_dir, subsample_every=cfg.subsample_every, **common),
        done=learn_dir.exists())
    stages.run("collect expert data", lambda: data.collect(
        cfg.source, cfg.env, expert_dir, expert=True, expert_episodes=cfg.expert_episodes,
        **common), done=expert_dir.exists())
    for name, run_dir, tcfg, path in (("train AD", ad_dir, cfg.train_ad, learn_dir),
                                      ("train ED", ed_dir, cfg.train_ed, expert_dir)):
        stages.run(name, lambda r=run_dir, t=tcfg, p=path: fit(
            t, cfg.model, data.load(p, env=cfg.env, quiet=True), r, progress=progress),
            done=_trained(run_dir, tcfg.num_steps))
    ev = cfg.eval
    opts = dict(refresh_every=ev.refresh_every, temperature=ev.temperature,
                batch_size=ev.batch_size, figure=False, progress=progress)
    evals = {}
    for se in ev.splits:
        path = out / "eval" / f"{se.split}.json"
        evals[se.split] = stages.run(
            f"evaluate {se.split} tasks",
            lambda p=path, se=se: evaluate_run(
                ad_dir, cfg.env, p, splits=(se.split,), num_seeds=se.num_seeds,
                num_episodes=se.num_episodes, num_tasks=se.num_tasks, baselines=se.baselines,
                ed_run_dir=ed_dir, source_cfg=cfg.source, **opts),
            done=_evaluated(path, se, ev))
        if evals[se.split] is None:
            evals[se.split] = json.loads(path.read_text())
    curves = {}
    for e in evals.values():
        curves.update(report_curves(e, CURVE_NAMES))
    se = ev.splits[0]
    for t in ev.also_temperatures:  # AD alone, on the headline split, at another temperature
        path = out / "eval" / f"{se.split}_T{t:g}.json"
        e = stages.run(
            f"evaluate {se.split} tasks, AD at temperature {t:g}",
            lambda p=path, t=t: evaluate_run(
                ad_dir, cfg.env, p, splits=(se.split,), num_seeds=se.num_seeds,
                num_episodes=se.num_episodes, num_tasks=se.num_tasks, baselines=(),
                **{**opts, "temperature": t}),
            done=_evaluated(path, se, ev, temperature=t, baselines=()))
        e = json.loads(path.read_text()) if e is None else e
        curves[se.split].update(report_curves(e, {"agent": f"AD (T={t:g})"})[se.split])
    results = {
        "experiment": cfg.name, "preset": preset, "env": cfg.env,
        "episode_len": next(iter(evals.values()))["episode_len"], "command": command(),
        "machine": machine(), "wall_time_s": {**stages.times,
                                              "this_invocation": round(time.perf_counter()
                                                                       - t_start, 1)},
        "curves": curves,
        "summary": {f"{m} {s}": _summary(curves, s, m) for s in curves for m in
                    ("AD", "ED", "source", "random") if _summary(curves, s, m)},
    }
    if cfg.normalise:
        results["scores"] = normalised_scores(curves)
    write_json(out / "results.json", results)
    figs = [plot_curves(results, out / "figures" / f"{cfg.name}.png",
                        title=f"{cfg.name} ({preset} preset): in-context return per episode")]
    table = results_table(results)
    if "scores" in results:
        figs.insert(0, plot_scores(results, out / "figures" / f"{cfg.name}_scores.png",
                                   title=f"{cfg.name} ({preset} preset): normalised score"))
        table = f"{scores_table(results)}\n{table}"
    curve = learn_dir / "learning_curve.png"
    if curve.exists():
        shutil.copyfile(curve, out / "figures" / "source_learning_curve.png")
    images = "".join(f"![{f.stem}](figures/{f.name})\n" for f in figs)
    (out / "summary.md").write_text(
        f"# {cfg.name} ({preset} preset)\n\nCommand: `{results['command']}`\n\n"
        f"Machine: {results['machine']}\n\nWall time per stage (s): "
        f"{json.dumps(stages.times)}\n\n{table}\n{images}"
        "![source learning curve](figures/source_learning_curve.png)\n")
    print(f"\nfigures: {', '.join(map(str, figs))}\nsummary: {out / 'summary.md'}\n"
          f"results: {out / 'results.json'}\n")
    print(table)
    return results


@dataclasses.dataclass(frozen=True)
class Args:
    """Run the experiment end to end; rerunning continues where it stopped."""

    preset: Literal["quick", "paper", "tiny"] = "quick"  # quick: 2-core CPU; paper: accelerator
    out: Path | None = None  # the run directory (default runs/<experiment>)


def cli(name: str, presets: dict, argv=None) -> dict:
    """`python -m adjax.experiments.<name> [--preset P] [--out DIR]`: one preset end to end."""
    import tyro

    from adjax.devices import use_cpu_cores

    use_cpu_cores()
    args = tyro.cli(Args, args=argv, description=f"{name}: {Args.__doc__}")
    results = run_experiment(presets[args.preset](), args.out or Path("runs") / name,
                             preset=args.preset)
    print(json.dumps(results["summary"], indent=1))
    return results
