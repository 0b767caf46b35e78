"""The analyses' report pieces (adjax.experiments.ablation writes their results.json): a
markdown table and a figure of the final return along one axis, beside the paper's values, and
REPORT.md's section of every analysis."""

from pathlib import Path

from matplotlib.figure import Figure

from adjax.atomic import read_json, save_figure
from adjax.report.tables import stage_times
from adjax.stats import tenth


def label(value) -> str:
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def _relative(results: dict) -> tuple[dict, dict] | None:
    """Ours and the paper's values divided by each one's value at the reference (None when
    either lacks the reference)."""
    ref = label(results["reference"]) if results["reference"] is not None else None
    ours = {p["label"]: p["final"] for p in results["points"]}
    paper = results["paper"]
    if ref is None or ref not in ours or not ours[ref] or ref not in paper:
        return None
    return ({k: v / ours[ref] for k, v in ours.items()},
            {k: v / paper[ref] for k, v in paper.items()})


def ablation_table(results: dict) -> list[str]:
    """Markdown rows: axis value, our final return (± 95% CI), relative to the reference, the
    paper's value and its relative value."""
    rel = _relative(results)
    unit = results["points"][0]["interval_over"]
    ep = results["episodes"]
    paper_ep = results["paper_episode"]
    head = (f"| {results['axis']} | ours: AD, episodes {ep - tenth(ep) + 1}-{ep} (± over "
            f"{unit} seeds) | ours / reference | paper ({results['paper_env'] or '-'}"
            f"{f', episode {paper_ep}' if paper_ep else ''}) | paper / reference |")
    rows = [head, "|---|---|---|---|---|"]
    for p in results["points"]:
        k = p["label"]
        paper = results["paper"].get(k)
        rows.append(
            f"| {k} | {p['final']:.2f} ± {p['ci95']:.2f} | "
            f"{f'{rel[0][k]:.2f}' if rel else '-'} | {'-' if paper is None else f'{paper:g}'} | "
            f"{f'{rel[1][k]:.2f}' if rel and k in rel[1] else '-'} |")
    return rows


def plot_ablation(results: dict, path) -> Path:
    """Final return against the axis (left) and, with the paper's values, both relative to the
    reference value (right): the shapes compare even where the environments differ. Results
    with "series" (values varying several settings) get one panel per setting instead."""
    if results.get("series"):
        return _plot_series(results, path)
    rel = _relative(results)
    fig = Figure(figsize=(10 if rel else 5.5, 4))
    axes = fig.subplots(1, 2 if rel else 1, squeeze=False)[0]
    xs = [p["x"] for p in results["points"]]
    ax = axes[0]
    ax.errorbar(xs, [p["final"] for p in results["points"]],
                yerr=[p["ci95"] for p in results["points"]], marker="o", capsize=3,
                label=f"AD ({results['env']})")
    if results["paper"] and results["paper_env"] == results["env"]:
        px = [float(k) for k in results["paper"]]
        ax.plot(px, list(results["paper"].values()), "s--", color="gray", label="paper")
    if results["x_label"] != results["axis"]:  # e.g. parameter counts: name each point
        for x, p in zip(xs, results["points"], strict=True):
            ax.annotate(p["label"], (x, p["final"]), fontsize=7, xytext=(3, 3),
                        textcoords="offset points")
    ax.set(xlabel=results["x_label"], ylabel="final return (last 10% of episodes)",
           title=results["title"])
    if rel:
        ours, paper = rel
        axes[1].plot(xs, [ours[p["label"]] for p in results["points"]], "o-",
                     label=f"ours ({results['env']})")
        axes[1].plot([float(k) for k in paper], list(paper.values()), "s--", color="gray",
                     label=f"paper ({results['paper_env']})")
        axes[1].set(xlabel=results["axis"],
                    ylabel=f"return / return at {label(results['reference'])}",
                    title="relative to the reference value")
    for a in axes:
        if results["log_x"]:
            a.set_xscale("log")
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)


def _plot_series(results: dict, path) -> Path:
    """One panel per setting: the final return of the values along it (those measured so far),
    against the setting's own value on a log-2 axis."""
    at = {p["label"]: p for p in results["points"]}
    series = results["series"]
    fig = Figure(figsize=(3.4 * len(series) + 0.4, 3.6))
    axes = fig.subplots(1, len(series), squeeze=False, sharey=True)[0]
    for ax, (name, values) in zip(axes, series.items(), strict=True):
        shown = [(x, at[k]) for k, x in values if k in at]
        if shown:
            ax.errorbar([x for x, _ in shown], [p["final"] for _, p in shown],
                        yerr=[p["ci95"] for _, p in shown], marker="o", capsize=3)
            for x, p in shown:
                ax.annotate(p["label"], (x, p["final"]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        ax.set_xscale("log", base=2)
        ax.set_xticks([x for _, x in values], [f"{x:g}" for _, x in values])
        ax.set(xlabel=name, title=f"AD ({results['env']}): {name}")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("final return (last 10% of episodes)")
    fig.suptitle(results["title"], fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)


ABLATIONS = ("context_size", "masking", "num_tasks", "model_size", "label_smoothing")


def _context_targets(r: dict) -> list[str]:
    """Fig. 7's qualitative claim as the issue states it: a context of <= 1 episode reaches at
    most 70% of the return with 4 episodes, 2 episodes at least 90%."""
    final = {p["value"]: p["final"] for p in r["points"]}
    if 4 not in final or not final[4]:
        return []
    short = {v: f / final[4] for v, f in final.items() if v <= 1}
    lines = [f"- Contexts of <= 1 episode at most 70% of 4 episodes' return: "
             f"{'met' if all(x <= 0.7 for x in short.values()) else 'missed'} ("
             + ", ".join(f"{v:g}: {x:.2f}" for v, x in short.items()) + ")."]
    if 2 in final:
        x = final[2] / final[4]
        lines.append(f"- 2 episodes at least 90% of 4 episodes' return: "
                     f"{'met' if x >= 0.9 else 'missed'} ({x:.2f}).")
    return lines


def stale_values(name: str, results: dict) -> list[str]:
    """Labels of the points not made with today's configuration of their value (made before the
    preset changed, or before points carried a configuration digest): the sweep's command
    reruns them. [] when the analysis or its preset is not known here."""
    import importlib

    from adjax.experiments.ablation import config_digest

    try:
        presets = importlib.import_module(f"adjax.experiments.{name}").PRESETS
        abl = presets[results["base_preset"]]()
    except (ImportError, AttributeError, KeyError):
        return []
    now = {label(v): config_digest(abl.variant(v)) for v in abl.values}
    return [p["label"] for p in results["points"] if p.get("config") != now.get(p["label"])]


def _base_train_s(root: Path, experiment: str) -> float | None:
    """The mean training time of one AD seed in the base experiment's published run (what a
    linked base value's AD costs when `make ablations` has to train it), None if not recorded."""
    path = root / experiment / "results.json"
    times = ([v for k, v in read_json(path).get("wall_time_s", {}).items()
              if k.startswith("train AD seed")] if experiment and path.exists() else [])
    return sum(times) / len(times) if times else None


def compute_lines(root: Path) -> list[str]:
    """What `make ablations` costs, from the published points' own stage times (training and
    evaluation, as each was measured, on the machine it names) plus, for every AD seed a point
    linked from its base experiment's run instead of training it, that experiment's mean
    recorded AD training time: the estimate of a run from nothing."""
    rows, total, to_run = [], 0.0, 0
    for name in ABLATIONS:
        path = root / "ablations" / name / "results.json"
        if not path.exists():
            continue
        r = read_json(path)
        times = [stage_times(p) for p in r["points"]]
        own = sum(sum(t.values()) for t in times)
        linked = sum(f"train AD seed {k}" not in t for t in times for k in range(r["train_seeds"]))
        per_seed = _base_train_s(root, r.get("experiment", "")) if linked else 0.0
        cost = own + linked * (per_seed or 0.0)
        total += cost
        missing = len(r["values"]) - len(r["points"])
        to_run += missing
        each = (f" x {per_seed / 60:.0f} min" if per_seed else
                " (the base run's training time is not recorded: not counted)" if linked else "")
        rows.append(f"| {name} | {len(r['points'])} of {len(r['values'])} | {own / 3600:.2f} | "
                    f"{linked}{each} | "
                    f"{cost / 3600:.2f}{f' + {missing} value(s) to run' if missing else ''} |")
    if not rows:
        return []
    return ["## What `make ablations` costs", "",
            "Measured stage times of the published points (training and evaluation, each on the "
            "machine its point names), plus, for each AD seed a point took from its base "
            "experiment's run, that experiment's mean recorded AD training time:", "",
            "| analysis | values published | points' own stages (h) | AD seeds linked from "
            "the base run | from nothing (h) |", "|---|---|---|---|---|", *rows,
            f"| all | | | | {total / 3600:.2f}"
            f"{f' + {to_run} value(s) to run' if to_run else ''} |", ""]


def ablation_lines(root: Path) -> list[str]:
    """The analyses (root/ablations/<name>/results.json: Fig. 7, appendix ablations), each its
    table (ours beside the paper's values, both relative to a reference value where the
    environments differ), its note, its figure and its paths figure where drawn."""
    lines = []
    for name in ABLATIONS:
        path = root / "ablations" / name / "results.json"
        if not path.exists():
            continue
        r = read_json(path)
        unit = r["points"][0]["interval_over"]
        lines += [f"## {r['title']}", "",
                  f"Command: `{r['command']}`; AD alone on {r['env']} ({r['base_preset']} "
                  f"preset's data and training), {r['train_seeds']} training seed(s) per value, "
                  f"{r['eval_seeds']} evaluation seeds per held-out task, {r['episodes']} "
                  f"episodes at temperature 1; ± over {unit} seeds."
                  + (f" {r['note'][0].upper()}{r['note'][1:].rstrip('.')}."
                     if r["note"] else ""), "",
                  *ablation_table(r), ""]
        if not r.get("complete", True):
            missing = [v for v in r["values"] if v not in {p["label"] for p in r["points"]}]
            lines += [f"Partial: {len(r['points'])} of {len(r['values'])} values measured; "
                      f"{', '.join(missing)} still to run (the same command continues).", ""]
        if stale := stale_values(name, r):
            lines += [f"Made with an earlier configuration of the {r['base_preset']} preset (not "
                      f"today's; the same command reruns them): {', '.join(stale)}.", ""]
        lines += _context_targets(r) if name == "context_size" else []
        lines += ["", f"![{name}](ablations/{name}/figures/{name}.png)", ""]
        if (path.parent / "figures" / f"{name}_paths.png").exists():
            lines += ["What the axis changes in one agent (training seed 0, held-out task 0, "
                      "evaluation seed 0):", "",
                      f"![{name} paths](ablations/{name}/figures/{name}_paths.png)", ""]
    return lines + compute_lines(root)
