"""The bandit's picture of in-context learning: a trained AD agent's arm pulls over one trial on a
new task of the training distribution ("odd") and of the adversarial one ("even").

    python -m adjax.report.choices RUN_DIR [--task 0] [--seed 0] [--out DIR]

RUN_DIR is a bandit experiment directory (`run_experiment`'s). Its AD training seed 0 pulls for a
whole trial on task `--task` of each split with the evaluation's own key for that task and
evaluation seed (`adjax.evaluate.in_context_trace`), so its rewards are the evaluation's. Writes
into RUN_DIR/figures (or --out) `<experiment>_choices.png` (per split: which arm each pull chose,
filled where it paid, over the arms' means) and `<experiment>_choices.json` (the settings, the
run's fingerprint, the tasks, every pull and reward), reused while the run is unchanged.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from adjax import distributed, envs
from adjax.atomic import read_json, save_figure, write_json
from adjax.evaluate import in_context_trace, load_agent
from adjax.evaluate.results import pair_key
from adjax.report.pictures import (
    PictureError,
    ad_run_dir,
    draw_from_args,
    experiment_info,
    fingerprint,
    picture_parser,
    print_files,
    unchanged,
)

SPLITS = ("odd", "even")  # the training distribution, and the one adversarial to memorising it
VERSION = 1  # of the picture: a change redraws every run's


def record_choices(agent, split: str, task_id: int = 0, seed: int = 0, num_pulls: int = 100,
                   refresh_every: int | None = None, temperature: float = 1.0,
                   eval_seed: int = 0) -> dict:
    """`agent` in context for num_pulls pulls on bandit task `task_id` of `split`, with the key
    the evaluation (root seed `eval_seed`) gives that task and evaluation seed `seed` ->
    {"task": arm means [A], "actions" [num_pulls], "rewards" [num_pulls]}."""
    env, params = envs.make("bandit")
    tasks, _ = envs.tasks_for("bandit", split, task_id + 1)
    key = pair_key("agent", task_id, seed, eval_seed)
    task = tasks[task_id]
    trace = in_context_trace(key, agent, env, env.with_task(params, task), num_pulls,
                             refresh_every=refresh_every, temperature=temperature)
    return {"task": np.asarray(task, np.float64).round(6).tolist(),
            "actions": np.asarray(trace.actions).astype(int).tolist(),
            "rewards": np.asarray(trace.rewards).astype(float).tolist()}


def best_arm_share(record: dict, pulls: slice) -> float:
    """The share of `pulls` that chose the arm with the highest mean."""
    actions = np.asarray(record["actions"])[pulls]
    return float(np.mean(actions == int(np.argmax(record["task"]))))


def choices_figure(records: dict[str, dict], title: str) -> Figure:
    """One panel per split: pull t (x) against the arm pulled (y), filled where it paid; the
    arms' means as a bar on the right of each panel, the best arm's row shaded."""
    fig = Figure(figsize=(10, 2.6 * len(records)), layout="constrained")
    axes = fig.subplots(len(records), 2, squeeze=False, width_ratios=(6, 1), sharey="row")
    for (split, rec), (ax, bar) in zip(records.items(), axes, strict=True):
        task, a, r = np.asarray(rec["task"]), np.asarray(rec["actions"]), np.asarray(rec["rewards"])
        t = np.arange(1, len(a) + 1)
        best = int(np.argmax(task))
        ax.axhspan(best - 0.5, best + 0.5, color="gold", alpha=0.3, lw=0)
        ax.scatter(t[r > 0], a[r > 0], s=18, color="tab:blue", label="paid")
        ax.scatter(t[r <= 0], a[r <= 0], s=18, facecolor="none", edgecolor="tab:blue",
                   label="did not pay")
        n = len(a)
        k = max(1, n // 10)
        ax.set(xlim=(0, n + 1), ylim=(-0.5, len(task) - 0.5), xlabel="pull",
               ylabel="arm", yticks=range(len(task)),
               title=f"{split} task: best arm {best} in {best_arm_share(rec, slice(0, k)):.0%} "
                     f"of pulls 1-{k}, {best_arm_share(rec, slice(n - k, n)):.0%} of pulls "
                     f"{n - k + 1}-{n}")
        bar.barh(range(len(task)), task, color=["gold" if i == best else "0.6"
                                                for i in range(len(task))])
        bar.set(xlim=(0, 1), xlabel="arm mean")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    fig.suptitle(title)
    return fig


def outputs(out_dir, name: str) -> dict[str, Path]:
    out_dir = Path(out_dir)
    return {"png": out_dir / f"{name}_choices.png", "json": out_dir / f"{name}_choices.json"}


def write_choices(run_dir, out_dir=None, task_id: int = 0, seed: int = 0,
                  force: bool = False) -> dict[str, Path]:
    """The choices figure and JSON of a bandit experiment directory's AD seed 0 (module doc) in
    out_dir (default run_dir/figures); reused when they exist with the same settings and run
    fingerprint. -> {"png", "json"} paths."""
    run_dir = Path(run_dir)
    info = experiment_info(run_dir)
    if info["env"] != "bandit":
        raise PictureError(f"{run_dir}: arm-choice pictures are for the bandit; this run's "
                           f"env is {info['env']!r}")
    ad = ad_run_dir(run_dir, info["name"])
    files = outputs(out_dir or run_dir / "figures", info["name"])
    splits = {s["split"]: s for s in json.loads((run_dir / "experiment.json").read_text())
              ["eval"]["splits"]}
    num_pulls = int(splits[SPLITS[0]]["num_episodes"])  # one trial, as evaluated
    stamp = {"version": VERSION, "run": fingerprint(ad), "splits": list(SPLITS), "task": task_id,
             "seed": seed, "pulls": num_pulls, "refresh_every": info["refresh_every"],
             "temperature": info["temperature"]}
    if not force and unchanged(files, stamp):
        return files
    agent = load_agent(ad)
    records = {s: record_choices(agent, s, task_id, seed, num_pulls, info["refresh_every"],
                                 info["temperature"]) for s in SPLITS}
    preset = f" ({info['preset']} preset)" if info["preset"] else ""
    title = (f"{info['name']}{preset}: AD (training seed 0) in context, weights frozen, on new "
             f"task {task_id} of each split, evaluation seed {seed}")
    if distributed.is_main():
        save_figure(choices_figure(records, title), files["png"])
        write_json(files["json"], {**stamp, "experiment": info["name"], "records": records},
                   indent=None, checksum=True)
    distributed.barrier(f"adjax-choices-{files['json']}")
    return files


def summary_figures(results: dict, out: Path) -> list[Path]:
    """The runner's summary stage: for a bandit experiment with AD, its choices picture; []
    otherwise."""
    if results.get("env") != "bandit" or not all(
            "AD" in results.get("curves", {}).get(s, {}) for s in SPLITS):
        return []
    return [write_choices(out)["png"]]


def main(argv=None) -> dict[str, Path]:
    ap = picture_parser(
        "python -m adjax.report.choices",
        "Draw a trained bandit AD agent's arm pulls over one trial on a new task of the "
        "training (odd) and the adversarial (even) distribution.",
        "a bandit experiment directory, e.g. runs/bandit", "index into each split's tasks")
    files = draw_from_args(ap, argv, write_choices)
    record = read_json(files["json"])["records"]
    for split, rec in record.items():
        n = len(rec["actions"])
        k = max(1, n // 10)
        print(f"{split}: best arm {int(np.argmax(rec['task']))}, chosen in "
              f"{best_arm_share(rec, slice(0, k)):.0%} of the first {k} pulls and "
              f"{best_arm_share(rec, slice(n - k, n)):.0%} of the last {k}")
    print_files(files)
    return files


if __name__ == "__main__":
    from adjax.devices import use_cpu_cores

    use_cpu_cores()
    main()
