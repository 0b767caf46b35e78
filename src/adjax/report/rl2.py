"""RL² on the grid experiments at this CPU's budget: REPORT.md's section and one figure per
experiment, beside the paper's RL² (its dashed line, after 1 billion env steps) and our AD.

Each experiment's RL² runs are published in <experiments>/rl2/<experiment>/seed{k}/ by

    python -m adjax.rl2 --env darkroom-hard --preset quick --seed K \
        --out runs/rl2/darkroom-hard/seedK --publish experiments/rl2/darkroom_hard

(`adjax.rl2.publish`). An RL² trial is `episodes_per_trial` episodes with the LSTM's state kept
across them (10 on the grids), so its curve has that many episodes: the report gives its first
and last episode and the trial's mean, with 95% t-intervals over training seeds (over evaluation
seeds for one training seed), and the env steps and minutes each seed's meta-training took.
The paper gives RL²'s level only as a line (the return RL² reaches after 1B env steps); AD's
numbers beside it are the experiment's published ones on the same split: its episode 1, the
episode where the RL² trial ends, and its last 10%.

    python -m adjax.report.rl2 experiments darkroom_hard   # the figure, printed numbers

Other RL² networks on the bandit (RL²-Transformer): `adjax.report.rl2_bandit`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from adjax.atomic import read_json, save_figure
from adjax.report.paper import PAPER_CURVES
from adjax.stats import mean_ci, seed_curves, tenth

RL2_DIR = "rl2"
EXPERIMENTS = {"darkroom": "darkroom", "darkroom_hard": "darkroom-hard",
               "key_to_door": "key-to-door"}  # experiment -> env
# Fields of the runs' RL² configs that may differ between seeds (besides the seed itself).
FREE = ("seed", "log_every", "ckpt_every", "max_to_keep")


def load(d: Path) -> list[dict]:
    """The published seeds of one experiment, in seed order: {"seed", "results", "run"}; all
    with one configuration (apart from FREE) and one evaluation's settings, else ValueError."""
    dirs = [p for p in d.glob("seed*") if p.name[4:].isdigit() and (p / "results.json").exists()]
    dirs.sort(key=lambda p: int(p.name[4:]))
    seeds = [{"seed": int(p.name[4:]), "results": read_json(p / "results.json"),
              "run": read_json(p / "run.json")} for p in dirs]
    if not seeds:
        return []
    first = seeds[0]["results"]

    def key(r):
        cfg = {k: v for k, v in r["rl2"]["config"].items() if k not in FREE}
        return cfg, r["rl2"]["update"], r["num_episodes"], r["num_seeds"], r["seed"]
    for s in seeds[1:]:
        if key(s["results"]) != key(first):
            where = d / f"seed{s['seed']}"
            raise ValueError(f"{where}: another RL² configuration or "
                             f"evaluation than seed {seeds[0]['seed']}'s")
    return seeds


def curve_entry(seeds: list[dict], split: str, name: str = "rl2") -> dict:
    """The published seeds' curve `name` on `split` as a results curve entry: "per_seed" (the
    first seed's evaluation seeds, [S][E]) and "per_train_seed" (each seed's mean, [K][E])."""
    per = [np.asarray(s["results"]["splits"][split]["curves"][name]["per_seed"], np.float64)
           for s in seeds]  # each [S, E]
    return {"per_seed": per[0], "per_train_seed": [p.mean(axis=0) for p in per]}


def curves(seeds: list[dict], split: str, name: str = "rl2") -> tuple[np.ndarray, str]:
    """Per-seed return curves of `name` on `split` (`stats.seed_curves` of `curve_entry`):
    each training seed's (its evaluation seeds' mean) when there are >= 2, else the one run's
    evaluation seeds'."""
    return seed_curves(curve_entry(seeds, split, name))


def train_minutes(seeds: list[dict]) -> list[float]:
    """Each seed's meta-training wall time, minutes."""
    return [round(s["run"]["train_seconds"] / 60, 1) for s in seeds]


def optimal(seeds: list[dict], split: str) -> float | None:
    """The optimal policy's mean return per episode on the split's tasks (None if not
    evaluated)."""
    opt = seeds[0]["results"]["splits"][split].get("optimal")
    return None if opt is None else float(opt["mean"])


def summary(seeds: list[dict], split: str) -> dict:
    """RL²'s first and last episode and trial mean (mean, 95% half-width), the random policy's
    trial mean, the optimum, and the budget."""
    x, unit = curves(seeds, split)
    out = {"split": split, "episodes": int(x.shape[1]), "seeds": len(seeds),
           "interval_over": unit,
           "num_tasks": seeds[0]["results"]["splits"][split]["num_tasks"]}
    for part, v in (("episode_1", x[:, 0]), ("last_episode", x[:, -1]),
                    ("trial_mean", x.mean(axis=1))):
        m, h = mean_ci(v)
        out[part], out[f"{part}_ci95"] = round(float(m), 3), round(float(h), 3)
    rnd, _ = curves(seeds[:1], split, "random")
    out["random_trial_mean"] = round(float(rnd.mean()), 3)
    out["optimal"] = optimal(seeds, split)
    out["env_steps"] = seeds[0]["run"]["env_steps"]
    out["train_minutes"] = train_minutes(seeds)
    return out


def ad_points(results: dict, split: str, episode: int) -> dict | None:
    """The experiment's AD on `split`: episode 1, `episode`, and its last 10% (over training
    seeds' mean curve) -> {"episode_1", "at", "last_10pct", "episodes"} or None."""
    c = results.get("curves", {}).get(split, {}).get("AD")
    if c is None:
        return None
    mean = np.asarray(c["per_seed"], np.float64).mean(axis=0)
    E = len(mean)
    return {"episode_1": round(float(mean[0]), 3),
            "at": None if episode > E else round(float(mean[episode - 1]), 3),
            "last_10pct": round(float(mean[-tenth(E):].mean()), 3), "episodes": E}


def shown_split(seeds: list[dict]) -> str:
    """The split a figure draws: the held-out one when evaluated, else the first."""
    splits = list(seeds[0]["results"]["splits"])
    return "test" if "test" in splits else splits[0]


def plot(seeds: list[dict], results: dict | None, env: str, path: Path,
         split: str = "test") -> Path:
    """RL²'s trial (mean and 95% interval), the random policy, AD's first episodes, and
    horizontal lines for the paper's RL² and AD's last 10%."""
    x, unit = curves(seeds, split)
    E = x.shape[1]
    eps = np.arange(1, E + 1)
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    mean, half = mean_ci(x)
    steps = seeds[0]["run"]["env_steps"]
    ax.plot(eps, mean, color="tab:blue", lw=1.5,
            label=f"RL², {steps / 1e6:.0f}M env steps ({x.shape[0]} {unit} seeds)")
    ax.fill_between(eps, mean - half, mean + half, color="tab:blue", alpha=0.2, lw=0)
    rnd, _ = curves(seeds[:1], split, "random")
    ax.plot(eps, rnd.mean(axis=0), color="tab:gray", lw=1, label="random")
    if results is not None and (c := results.get("curves", {}).get(split, {}).get("AD")):
        ad = np.asarray(c["per_seed"], np.float64).mean(axis=0)
        ax.plot(eps[:len(ad)], ad[:E], color="tab:red", lw=1.5, label="AD (our published run)")
        k = tenth(len(ad))
        ax.axhline(ad[-k:].mean(), color="tab:red", ls=":", lw=1,
                   label=f"AD, episodes {len(ad) - k + 1}-{len(ad)}")
    paper = PAPER_CURVES.get(env, {}).get("RL2")
    if paper and split == "test":  # the paper's numbers are on held-out tasks
        ax.axhline(next(iter(paper.values())), color="tab:blue", ls="--", lw=1,
                   label="RL², the paper (1B env steps)")
    opt = optimal(seeds, split)
    if opt is not None:
        ax.axhline(opt, color="k", ls="--", lw=0.8, label="optimal")
    ax.set_xlabel(f"episode of the trial ({split} tasks, weights frozen)")
    ax.set_ylabel("return per episode")
    ax.set_title(f"{env}: RL² at this CPU's budget", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path)


def network_label(cfg: dict) -> str:
    """An RL² run's network and algorithm, as the report names them."""
    algo = cfg.get("algo", "a2c").upper()
    if cfg.get("network") == "transformer":
        return (f"transformer {cfg['tf_layers']} x {cfg['tf_width']} ({cfg['tf_heads']} heads), "
                f"{algo}")
    return f"LSTM {' x '.join(map(str, cfg['hidden']))}, {algo}"


def rl2_lines(root: Path) -> list[str]:
    """REPORT.md's section: per grid experiment with published RL² runs, the table and the
    figure (drawn here when missing)."""
    found = [(name, env, load(root / RL2_DIR / name)) for name, env in EXPERIMENTS.items()]
    found = [f for f in found if f[2]]
    if not found:
        return []
    lines = ["## RL² on the grids at this CPU's budget", "",
             "RL² (`adjax.rl2`, an LSTM meta-trained on the training tasks) evaluated as AD is: "
             "frozen weights, one trial per task x evaluation seed with the LSTM's state kept "
             "across its episodes, temperature 1. ± is the 95% interval over training seeds "
             "(over evaluation seeds where one training seed is published). The paper's RL² is "
             "a line, its level after 1 billion env steps; AD's columns are the experiment's "
             "published run on the same split (its evaluation may use fewer tasks or seeds). The "
             "train rows are the tasks RL² was meta-trained on: where RL²'s is far above its "
             "held-out row, it has learnt the task set rather than a search (the paper's "
             "account of RL² out of distribution).",
             ""]
    for name, env, seeds in found:
        results_path = root / name / "results.json"
        results = read_json(results_path) if results_path.exists() else None
        cfg, run = seeds[0]["results"]["rl2"]["config"], seeds[0]["run"]
        net = network_label(cfg)
        minutes = ", ".join(f"{m:.1f}" for m in train_minutes(seeds))
        lines += [f"### {name}", "",
                  f"{net}, {cfg['num_trials']} parallel trials of {cfg['episodes_per_trial']} "
                  f"episodes, {run['env_steps']:,} env steps per training seed "
                  f"(the paper's: 1,000,000,000), {minutes} min of meta-training per seed on "
                  f"{run['machine']}. Command (seed {seeds[0]['seed']}): `{run['command']}`. "
                  f"Files: [{RL2_DIR}/{name}/]({RL2_DIR}/{name}/).", "",
                  "| split | seeds | RL² episode 1 | RL² last episode | RL² trial mean | random "
                  "trial mean | paper's RL² | AD episode 1 | AD same episode | AD last 10% |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        paper = PAPER_CURVES.get(env, {}).get("RL2")
        for split in seeds[0]["results"]["splits"]:
            s = summary(seeds, split)
            E = s["episodes"]
            ad = ad_points(results, split, E) if results else None
            p = f"{next(iter(paper.values())):.2f}" if paper and split == "test" else "–"
            ad_cells = (["–"] * 3 if ad is None else
                        [f"{ad['episode_1']:.2f}",
                         "–" if ad["at"] is None else f"{ad['at']:.2f} (ep {E})",
                         f"{ad['last_10pct']:.2f} (eps {ad['episodes'] - tenth(ad['episodes']) + 1}"
                         f"-{ad['episodes']})"])
            lines.append(
                f"| {split} ({s['num_tasks']} tasks) | {s['seeds']} ({s['interval_over']}) | "
                f"{s['episode_1']:.2f} ± {s['episode_1_ci95']:.2f} | "
                f"{s['last_episode']:.2f} ± {s['last_episode_ci95']:.2f} (ep {E}) | "
                f"{s['trial_mean']:.2f} ± {s['trial_mean_ci95']:.2f} | "
                f"{s['random_trial_mean']:.2f} | {p} | " + " | ".join(ad_cells) + " |")
        fig = root / RL2_DIR / name / "figures" / "rl2.png"
        if not fig.exists():
            plot(seeds, results, env, fig, split=shown_split(seeds))
        notes = root / RL2_DIR / "NOTES.md"
        lines += ["", f"![RL² on {name}]({RL2_DIR}/{name}/figures/rl2.png)", ""]
        if notes.exists():
            lines += [f"What was run and what limits it: [{RL2_DIR}/NOTES.md]({RL2_DIR}/NOTES.md)"
                      ".", ""]
    return lines


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m adjax.report.rl2",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("root", type=Path, help="the published experiments, e.g. experiments")
    ap.add_argument("experiment", choices=tuple(EXPERIMENTS))
    args = ap.parse_args(argv)
    seeds = load(args.root / RL2_DIR / args.experiment)
    if not seeds:
        raise SystemExit(f"no published RL² run under {args.root / RL2_DIR / args.experiment}")
    res_path = args.root / args.experiment / "results.json"
    results = read_json(res_path) if res_path.exists() else None
    env = EXPERIMENTS[args.experiment]
    print(plot(seeds, results, env, args.root / RL2_DIR / args.experiment / "figures" / "rl2.png",
               split=shown_split(seeds)))
    out = {split: summary(seeds, split) for split in seeds[0]["results"]["splits"]}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
