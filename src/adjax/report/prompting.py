"""The prompting analysis' report pieces (`adjax.experiments.prompting` writes its results.json):
the figure in the paper's Fig. 5 form, the summary table and REPORT.md's section."""

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from adjax.atomic import read_json, save_figure
from adjax.report.paper import PAPER_PROMPTING
from adjax.stats import mean_ci, seed_curves


def label(level: float) -> str:
    """A demonstration level's key in results.json ("0.05")."""
    return f"{level:g}"


def plot(results: dict, path) -> Path:
    """The paper's Fig. 5 form: return per episode after the prompt, one colour per
    demonstration level, AD solid and ED dashed, each with its 95% interval (over training
    seeds when there are several); the demonstrations' measured return as a marker at episode
    0, the mean optimal return dashed black."""
    fig = Figure(figsize=(7.5, 4.5))
    ax = fig.subplots()
    cmap = colormaps["viridis"]
    levels = results["levels"]
    units = set()
    for i, lv in enumerate(levels):
        c = cmap(0.9 * i / max(1, len(levels) - 1))
        sec = results["curves"][label(lv)]
        demo = results["demonstrations"][label(lv)]
        for method, ls in (("AD", "-"), ("ED", "--")):
            runs, unit = seed_curves(sec[method])
            units.add(unit)
            mean, half = mean_ci(runs)
            x = np.arange(1, runs.shape[1] + 1)
            ax.plot(x, mean, color=c, ls=ls, lw=1.5,
                    label=f"demonstrations at {lv:.0%} of optimal (measured "
                          f"{demo['level_measured']:.0%})" if method == "AD" else None)
            ax.fill_between(x, mean - half, mean + half, color=c, alpha=0.15, lw=0)
        ax.scatter([0], [demo["return_mean"]], color=c, marker="o", s=18, zorder=3)
    ax.axhline(results["optimal"]["mean"], color="k", ls="--", lw=1, label="optimal")
    ax.plot([], [], color="gray", ls="-", label="AD (solid)")
    ax.plot([], [], color="gray", ls="--", label="ED (dashed)")
    ax.scatter([], [], color="gray", marker="o", s=18, label="demonstrations' return (episode 0)")
    ax.set_xlabel(f"episode after the prompt ({results['episode_len']} env steps each)")
    ax.set_ylabel("return per episode")
    ax.set_title(f"{results['env']}: AD and ED prompted with {results['prompt']['episodes']} "
                 f"demonstration episode(s)\n{results['num_tasks']} held-out tasks x "
                 f"{results['num_seeds']} seeds, 95% interval over "
                 f"{' / '.join(sorted(units))} seeds", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return save_figure(fig, path)


PATHS_CAPTION = ("What a prompted agent does: training seed 0's AD and ED from the lowest and "
                 "the highest demonstration level on held-out task 0, evaluation seed 0 (that "
                 "pair's own prompt and key, so the returns are its evaluated ones): the prompt's "
                 "last episode, then episodes 1, 2, 5, 10 and 50 after it.")


def summary_md(results: dict) -> str:
    p = results["prompt"]
    rows = ["| demonstrations asked (x optimal) | measured (x optimal) | demonstration return "
            "| AD first 10% | AD last 10% | ED first 10% | ED last 10% |",
            "|---|---|---|---|---|---|---|"]
    for lv in results["levels"]:
        d, s = results["demonstrations"][label(lv)], results["summary"][label(lv)]
        cells = " | ".join(f"{s[m][part]:.2f} ± {s[m][part + '_ci95']:.2f}"
                           for m in ("AD", "ED") for part in ("first_10pct", "last_10pct"))
        rows.append(f"| {lv:g} | {d['level_measured']:.3f} | {d['return_mean']:.2f} | {cells} |")
    unit = next(iter(results["summary"].values()))["AD"]["interval_over"]
    return (f"# Prompting with demonstrations ({results['experiment']}, {results['env']})\n\n"
            f"Command: `{results['command']}`\n\nMachine: {results['machine']}\n\n"
            f"Run: `{results['run']}` (training seeds {results['train_seeds']}); source "
            f"{results['source_name']}.\n\nPrompt: {p['episodes']} episode(s) = {p['steps']} "
            f"steps, {p['steps_in_context']} of them in the context of {p['context_len']} steps; "
            f"rule: {p['rule']}.\n\n{results['num_tasks']} held-out tasks x "
            f"{results['num_seeds']} evaluation seeds, {results['num_episodes']} episodes after "
            f"the prompt, temperature {results['temperature']:g}; mean optimal return "
            f"{results['optimal']['mean']:.2f}; ± is the 95% interval over {unit} seeds.\n\n"
            + "\n".join(rows) + "\n\n![prompting](figures/prompting.png)\n"
            + (f"\n{PATHS_CAPTION}\n\n![prompted paths](figures/prompting_paths.png)\n"
               if results.get("paths_figure") else ""))


def prompting_lines(root: Path) -> list[str]:
    """The prompting analysis (root/prompting/results.json, Fig. 5) as report lines: per
    demonstration level, AD's and ED's first and last 10% of episodes after the prompt, the
    paper's AD return after its 25k steps (not the same step unless ours ran as long), and the
    analysis' targets: AD ends within 10% of the optimum from every level, ED within 15% of the
    optimum of the demonstrations' return."""
    path = root / "prompting" / "results.json"
    if not path.exists():
        return []
    r = read_json(path)
    opt, L, E = r["optimal"]["mean"], r["episode_len"], r["num_episodes"]
    same_step = E * L == PAPER_PROMPTING["steps"]
    paper_head = ("paper AD, same step" if same_step
                  else f"paper AD after {PAPER_PROMPTING['steps']:,} steps (ours: {E * L:,})")
    rows = ["| demonstrations (× optimal, measured) | demonstrations' return | AD first 10% | "
            f"AD last 10% | ED first 10% | ED last 10% | {paper_head} |",
            "|---|---|---|---|---|---|---|"]
    ad_ok, ed_ok = [], []
    for lv in r["levels"]:
        key = f"{lv:g}"
        d, sm = r["demonstrations"][key], r["summary"][key]
        cells = [f"{sm[m][p]:.2f} ± {sm[m][f'{p}_ci95']:.2f}" for m in ("AD", "ED")
                 for p in ("first_10pct", "last_10pct")]
        ref = PAPER_PROMPTING["AD"].get(lv)
        rows.append(f"| {lv:g} ({d['level_measured']:.2f}) | {d['return_mean']:.2f} | "
                    + " | ".join(cells) + f" | {'–' if ref is None else f'{ref:g}'} |")
        ad_ok.append(sm["AD"]["last_10pct"] >= 0.9 * opt)
        ed_ok.append(abs(sm["ED"]["last_10pct"] - d["return_mean"]) <= 0.15 * opt)
    unit = next(iter(r["summary"].values()))["AD"]["interval_over"]
    met = lambda ok: "met" if all(ok) else f"missed at {ok.count(False)} of {len(ok)} levels"  # noqa: E731
    return [
        "## Prompting with demonstrations (Fig. 5)", "",
        f"Command: `{r['command']}` on `{r['run']}` ({r['source_name']} source, training seeds "
        f"{r['train_seeds']}); {r['num_tasks']} held-out tasks × {r['num_seeds']} evaluation "
        f"seeds, {r['prompt']['episodes']} demonstration episodes in context, {E} episodes "
        f"after the prompt at temperature {r['temperature']:g}; ± over {unit} seeds; mean "
        f"optimum {opt:.2f}. Details and what was tried: [prompting/summary.md]"
        "(prompting/summary.md), [prompting/NOTES.md](prompting/NOTES.md).", "",
        *rows, "",
        f"- AD's last 10% within 10% of the optimum from every level: {met(ad_ok)}.",
        f"- ED's last 10% within 15% of the optimum of the demonstrations' return: "
        f"{met(ed_ok)}.", "",
        "![prompting](prompting/figures/prompting.png)", "",
        *([PATHS_CAPTION, "", "![prompted paths](prompting/figures/prompting_paths.png)", ""]
          if r.get("paths_figure") else [])]
