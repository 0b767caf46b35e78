"""The paper's analyses as sweeps along one axis (Laskin et al. 2023, Fig. 7 and the appendix
ablations): variants of a base experiment preset, AD alone, each trained on the training tasks
and evaluated on the held-out ones; the final return (mean of the last 10% of episodes) against
the axis, beside the paper's values.

    python -m adjax.experiments.context_size --preset quick    # one module per analysis

An `Ablation` is data: the base experiment and preset, the axis values and a function that sets
one value in the base configuration. Nothing is chosen from these runs, so they report held-out
tasks directly.

Reuse. Variants that collect the same data share one dataset: the base experiment's own run
directory's (runs/<experiment>, as `make reproduce` leaves it) when that directory holds the
same data configuration, else runs/ablations/<name>/data-<hash>. A variant whose AD is the base
preset's AD (same data, model and training) takes the base run's trained seeds instead of
training them again (they are linked, not copied; both rules: `adjax.experiments.reuse`). Each
variant is one `run_experiment` directory, so an interrupted sweep resumes stage by stage.
"""

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import tyro

from adjax.atomic import one_line_errors, read_json, save_figure, write_json, write_text
from adjax.envs import GRID_ENVS
from adjax.experiments.common import ExperimentConfig, SplitEval, command, machine, publish
from adjax.experiments.pipeline import _trained
from adjax.experiments.reuse import link_base_ad, shared_data_dir
from adjax.experiments.runner import run_experiment, train_only
from adjax.report import trajectories as tj
from adjax.report.ablations import ablation_table, label, plot_ablation
from adjax.report.tables import stage_times
from adjax.stats import curve_summary


@dataclasses.dataclass(frozen=True)
class Ablation:
    """One axis of an analysis.

    base: the base preset's configuration (its ED and evaluation are replaced: AD alone, on the
    held-out split). vary(cfg, value): the configuration at one axis value. paper: the paper's
    value per axis value ({} where the paper gives a figure without numbers), measured on
    paper_env at paper_episode. reference: the axis value both curves are divided by in the
    relative panel (ours and the paper's may be on different environments). episodes,
    eval_seeds: evaluation on the held-out split; train_seeds: per axis value.
    """

    name: str
    title: str
    axis: str
    values: tuple
    vary: Callable[[ExperimentConfig, Any], ExperimentConfig]
    base: ExperimentConfig
    base_preset: str
    paper: dict = dataclasses.field(default_factory=dict)
    paper_env: str = ""
    paper_episode: int | None = None
    reference: Any = None
    train_seeds: int = 1
    episodes: int = 200
    eval_seeds: int = 20
    log_x: bool = False
    note: str = ""  # why this environment / budget, said beside the paper's numbers
    x_of: Callable[[ExperimentConfig, Any], float] | None = None  # plotted x (default: value)
    x_label: str = ""  # the plotted axis' name when x_of is given
    # Where the values vary more than one setting (model size: width, layers, heads), the
    # figure's panels: ((setting, ((value label, that setting's value), ...)), ...), one panel
    # per setting along its own axis (the base value in each).
    series: tuple = ()

    def variant(self, value) -> ExperimentConfig:
        """The configuration run at `value`: AD alone, evaluated on the held-out split only."""
        cfg = dataclasses.replace(
            self.base, train_ed=None, train_seeds=self.train_seeds,
            eval=dataclasses.replace(
                self.base.eval, refresh_check=None,
                splits=(SplitEval("test", self.eval_seeds, self.episodes, baselines=()),)))
        return self.vary(cfg, value)


def _point(value, x: float, res: dict) -> dict:
    """One axis value's result: the final (last 10%) return per training seed (evaluation seeds
    with one) and its interval, the first 10%, the mean curve."""
    curve = res["curves"]["test"]["AD"]
    s = curve_summary(curve)
    return {"value": value, "label": label(value), "x": x, "final": s["last_10pct"],
            "ci95": s["last_10pct_ci95"], "interval_over": s["interval_over"],
            "per_unit": s["last_10pct_per_unit"], "first_10pct": s["first_10pct"],
            "curve": np.asarray(curve["per_seed"]).mean(axis=0).round(4).tolist(),
            "machine": machine(),
            # the stages' times, not the invocation's, which a resumed value would make ~0
            "wall_time_s": stage_times(res)}


def config_digest(cfg: ExperimentConfig) -> str:
    """A variant's configuration as a short digest: a published point made with it is its."""
    text = json.dumps(cfg.to_dict(), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _published_points(published: Path | None) -> dict:
    """{config digest: point} of a published results.json (points made before digests were
    recorded have none and are not reused). A point made before points named their machine gets
    the file's: each of those files was made in one sitting."""
    path = None if published is None else Path(published) / "results.json"
    if path is None or not path.exists():
        return {}
    res = read_json(path)
    return {p["config"]: {"machine": res.get("machine", "not recorded"), **p}
            for p in res["points"] if "config" in p}


def _machines(points: list) -> str:
    """The machine the points were made on, or each one's when they differ."""
    made = list(dict.fromkeys(p["machine"] for p in points if "machine" in p))
    if len(made) <= 1:
        return made[0] if made else machine()
    on = {m: ", ".join(p["label"] for p in points if p.get("machine") == m) for m in made}
    return "several: " + "; ".join(f"{labels} on {m}" for m, labels in on.items())


def run_ablation(abl: Ablation, runs: Path = Path("runs/ablations"),
                 base_dir: Path | None = None, progress: bool = True,
                 published: Path | None = None, draw_paths: bool = False) -> dict:
    """Every axis value (configurations checked before any compute); results.json, the figure
    and summary.md under runs/<name> are rewritten after each value ("complete" false until the
    last), so an interrupted sweep shows the values it has. published: the sweep's published
    directory (PUBLISH/<name>); a value whose point there was made with the same configuration
    is taken from it instead of being run again, so a sweep longer than a sitting continues
    from what was committed even when runs/ is gone. draw_paths: a reused value whose paths
    the published figure lacks gets its AD training seed 0 trained alone (`train_only`, a few
    minutes) for its row of the paths figure; its point is still the published one."""
    out = Path(runs) / abl.name
    base_dir = Path(base_dir) if base_dir is not None else Path("runs") / abl.base.name
    variants = [(v, abl.variant(v)) for v in abl.values]  # a bad value fails here, not midway
    done = _published_points(published)
    drawn = {} if published is None else _paths_records(Path(published) / "figures"
                                                        / f"{abl.name}_paths.json")
    digests = [config_digest(cfg) for _, cfg in variants]
    points, seed0_runs = [], {}  # seed0_runs: {config digest: run with AD seed 0} of reused points

    def write(i: int) -> dict:
        """Results after value i, with the published points of the values still to come: a
        sweep stopped midway never publishes less than it found."""
        later = [done[d] for d in digests[i + 1:] if d in done]
        return _write(abl, points + later, out, len(points) + len(later) == len(variants),
                      published, seed0_runs, drawn)

    for i, (value, cfg) in enumerate(variants):
        digest = digests[i]
        run_dir = out / _dir_name(abl, value)
        if digest in done and not (run_dir / "results.json").exists():
            print(f"[{abl.name}={label(value)}] published in {published}: reused", flush=True)
            if draw_paths and abl.base.env in GRID_ENVS and digest not in drawn:
                seed0 = dataclasses.replace(cfg, train_seeds=1, first_seed=0)
                print(f"[{abl.name}={label(value)}] its paths: training AD seed 0 alone",
                      flush=True)
                link_base_ad(seed0, run_dir, base_dir)
                train_only(seed0, run_dir, progress,
                           data_dir=shared_data_dir(cfg, out, base_dir))
            if _trained(run_dir / "runs" / "ad" / "seed0", cfg.train_ad.num_steps):
                seed0_runs[digest] = run_dir
            points.append(done[digest])
            results = write(i)
            continue
        run_dir.mkdir(parents=True, exist_ok=True)
        if link_base_ad(cfg, run_dir, base_dir):
            print(f"[{abl.name}={label(value)}] AD is the base run's: reusing {base_dir}/runs/ad",
                  flush=True)
        res = run_experiment(cfg, run_dir, preset=abl.base_preset, progress=progress,
                             data_dir=shared_data_dir(cfg, out, base_dir))
        x = float(value) if abl.x_of is None else float(abl.x_of(cfg, value))
        points.append({**_point(value, x, res), "run": str(run_dir), "config": digest})
        results = write(i)
    print("\n".join(ablation_table(results)))
    return results


def _dir_name(abl: Ablation, value) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{abl.name}={label(value)}")


def _write(abl: Ablation, points: list, out: Path, complete: bool,
           published: Path | None = None, seed0_runs: dict | None = None,
           drawn: dict | None = None) -> dict:
    """results.json, the figure and summary.md in out, and copied to `published` (if given).
    drawn: the published paths records as the sweep found them (see `_paths_figure`)."""
    results = {
        "ablation": abl.name, "title": abl.title, "experiment": abl.base.name,
        "env": abl.base.env, "base_preset": abl.base_preset, "axis": abl.axis,
        "x_label": abl.x_label or abl.axis, "train_seeds": abl.train_seeds,
        "eval_seeds": abl.eval_seeds, "episodes": abl.episodes,
        "num_tasks": abl.variant(abl.values[0]).eval.splits[0].num_tasks, "split": "test",
        "complete": complete, "values": [label(v) for v in abl.values], "points": points,
        "reference": abl.reference,
        "paper": {label(k): v for k, v in abl.paper.items()}, "paper_env": abl.paper_env,
        "paper_episode": abl.paper_episode, "note": abl.note, "log_x": abl.log_x,
        **({"series": {name: [list(v) for v in vals] for name, vals in abl.series}}
           if abl.series else {}),
        "command": command(), "machine": _machines(points),
    }
    write_json(out / "results.json", results, checksum=True)
    fig = plot_ablation(results, out / "figures" / f"{abl.name}.png")
    paths = _paths_figure(abl, points, out, drawn or {}, seed0_runs)
    write_text(out / "summary.md", "\n".join([
        f"# {abl.title}", "", f"Command: `{results['command']}`", "",
        f"Machine: {results['machine']}", "", *ablation_table(results), "",
        f"![{abl.name}](figures/{fig.name})", "",
        *([f"![{abl.name} paths](figures/{paths.name})", ""] if paths else [])]))
    if published is not None:  # after every value: a sweep stopped midway keeps what it made
        publish(out, Path(published), names=("results.json", "summary.md"))
    return results


def _paths_figure(abl: Ablation, points: list, out: Path, before: dict,
                  seed0_runs: dict | None = None) -> Path | None:
    """figures/<name>_paths.png and <name>_paths.json: each axis value's AD (training seed 0)
    on held-out task 0 with evaluation seed 0 (`adjax.report.trajectories`), one row per value,
    so the paths show what the axis changes. A value's paths come from its run when it is here
    (its point's run, or seed0_runs[its config digest] for a published point; drawn there, or
    reused), else from `before` ({config digest: record} of the published JSON as the sweep
    found it, never as this sweep has since rewritten it) when it holds the value's
    configuration; a value with none has no row. None for a non-grid env or no rows."""
    if abl.base.env not in GRID_ENVS:
        return None
    files = {"png": out / "figures" / f"{abl.name}_paths.png",
             "json": out / "figures" / f"{abl.name}_paths.json"}
    records = {}
    for p in points:
        run = (seed0_runs or {}).get(p.get("config")) or p.get("run")
        if run and (Path(run) / "runs" / "ad" / "seed0").exists():
            drawn = tj.write_trajectories(run, num_episodes=min(tj.PANEL_EPISODES[-1],
                                                                abl.episodes))
            record = {k: v for k, v in read_json(drawn["json"]).items() if k != "content_sha256"}
        elif p.get("config") in before:
            record = before[p["config"]]
        else:
            continue
        records[p["config"]] = {**record, "label": p["label"]}
    if not records:
        return None
    rows = []
    for record in records.values():
        paths, eps = tj.shown_paths(record, str(files["json"]))
        rows.append((f"{abl.axis} {record['label']}",
                     [(paths, i + 1, f"episode {e}: return {paths.returns[i]:g}")
                      for i, e in enumerate(eps)]))
    first = next(iter(records.values()))
    title = (f"{abl.title}: AD (training seed 0) in context, weights frozen, on held-out task "
             f"{first['task']} {first['task_cells']}, evaluation seed {first['seed']}")
    save_figure(tj.panels_figure(rows, title), files["png"], dpi=80)
    write_json(files["json"], {"ablation": abl.name, "axis": abl.axis, "values": records},
               indent=None, checksum=True)
    return files["png"]


def _paths_records(path: Path) -> dict:
    """{config digest: paths record} of a published <name>_paths.json ({} if none)."""
    return read_json(path)["values"] if path.exists() else {}


@dataclasses.dataclass(frozen=True)
class Args:
    """Run every axis value of the analysis (reusing complete stages), then its results."""

    preset: str = "quick"  # quick: this 2-core CPU; tiny: plumbing only
    runs: Path = Path("runs/ablations")  # runs/ablations/<name>/<name>_<value>/ per value
    base_run: Path | None = None  # the base experiment's run dir to reuse (default runs/<exp>)
    publish: Path | None = None  # also copy the small results to PUBLISH/<name>/
    # train AD seed 0 alone of each value taken from PUBLISH whose paths its figure lacks
    draw_paths: bool = False


def cli(name: str, presets: dict, argv=None) -> dict:
    """`python -m adjax.experiments.<name> [--preset P] [--runs DIR] [--publish DIR]
    [--draw-paths]`; errors as
    `command.cli`'s (argv None: the process leaves at once after the error line)."""
    args = tyro.cli(Args, args=argv, description=f"{name}: {Args.__doc__}")
    if args.preset not in presets:
        raise SystemExit(f"{name}: unknown preset {args.preset!r}; known: {', '.join(presets)}")
    with one_line_errors(f"python -m adjax.experiments.{name}", hard_exit=argv is None):
        res = run_ablation(presets[args.preset](), args.runs, args.base_run,
                           published=None if args.publish is None else args.publish / name,
                           draw_paths=args.draw_paths)
    return res

