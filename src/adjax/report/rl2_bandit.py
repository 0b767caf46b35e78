"""Other RL² networks on the bandit than the bandit experiment's own (an LSTM, a method of that
experiment): REPORT.md's section for each, and its rows in the table of every number.

    python -m adjax.rl2 --env bandit --preset quick --set network=transformer --seed K \
        --out runs/rl2tf-bandit/seedK --publish experiments/rl2/bandit_transformer

publishes a seed as the grids' RL² runs are (`adjax.rl2.publish`); its seeds are scored as the
bandit experiment scores its methods, (x - random) / (UCB - random) against that experiment's
random and UCB returns on the same tasks (`stats.normalised_score`), after a check that its
random policy got the experiment's return, beside the experiment's RL² and AD and the paper's
number for the same method.
"""

from __future__ import annotations

from pathlib import Path

from adjax.atomic import read_json
from adjax.report.paper import PAPER_SCORES
from adjax.report.rl2 import RL2_DIR, curve_entry, curves, load, network_label, train_minutes
from adjax.report.tables import method_label
from adjax.stats import normalised_score, seed_curves, tenth

# Published RL² runs on the bandit: directory under rl2/ -> (the experiment that scores them, the
# paper's name for the method, as PAPER_SCORES has it).
BANDIT_RUNS = {"bandit_transformer": ("bandit", "RL2-Transformer")}


def bandit_scores(seeds: list[dict], results: dict, where: Path) -> dict:
    """Per split of the published runs: the normalised score (x - random) / (UCB - random) of
    each training seed's mean return over the trial, with random and UCB the bandit experiment's
    returns on the same tasks (results["scores"]), its mean and 95% interval, and the return per
    pull over the trial's first and last 10%. ValueError when a split is not scored there, or
    when the runs' random policy did not get the experiment's return (other tasks or keys)."""
    out = {}
    for split in seeds[0]["results"]["splits"]:
        sc = results.get("scores", {}).get(split)
        if sc is None:
            raise ValueError(f"{where}: split {split!r} has no normalised scores in the bandit "
                             "experiment's results.json")
        lo, hi = sc["random_return"], sc["source_return"]
        rnd, _ = curves(seeds[:1], split, "random")
        if abs(float(rnd.mean()) - lo) > 1e-3:
            raise ValueError(f"{where}/seed{seeds[0]['seed']}: its random policy's return on "
                             f"{split} ({float(rnd.mean()):.4f}) is not the experiment's ({lo}): "
                             "evaluated on other tasks or keys")
        entry = curve_entry(seeds, split)
        x, _ = seed_curves(entry)
        k = tenth(x.shape[1])
        out[split] = {**normalised_score(entry, lo, hi),
                      "first_10pct": round(float(x[:, :k].mean()), 4),
                      "last_10pct": round(float(x[:, -k:].mean()), 4),
                      "num_tasks": seeds[0]["results"]["splits"][split]["num_tasks"]}
    return out


def _score_cell(d: dict | None) -> str:
    return "–" if d is None else f"{d['mean']:.2f} ± {d['ci95']:.2f}"


def _paper_cell(paper: dict, method: str, split: str) -> str:
    v = paper.get(method, {}).get(split)
    return "–" if v is None else f"{v:.2f}"


def published_bandit_scores(root: Path, experiment: str, results: dict) -> dict:
    """Paper method -> {split: score} of the RL² networks published for `experiment`
    (BANDIT_RUNS), scored against its results (`bandit_scores`); {} when there are none."""
    out = {}
    for name, (exp, method) in BANDIT_RUNS.items():
        seeds = load(root / RL2_DIR / name) if exp == experiment else []
        if seeds:
            out[method] = bandit_scores(seeds, results, root / RL2_DIR / name)
    return out


def bandit_lines(root: Path) -> list[str]:
    """REPORT.md's sections for RL² networks on the bandit published under rl2/ (BANDIT_RUNS),
    each scored against the bandit experiment's random and UCB, beside its RL² and AD and the
    paper's number for the same method."""
    lines = []
    for name, (experiment, method) in BANDIT_RUNS.items():
        where = root / RL2_DIR / name
        seeds = load(where)
        results_path = root / experiment / "results.json"
        if not seeds or not results_path.exists():
            continue
        results = read_json(results_path)
        scores = bandit_scores(seeds, results, where)
        cfg, run = seeds[0]["results"]["rl2"]["config"], seeds[0]["run"]
        label = method_label(method)
        minutes = ", ".join(f"{m:.1f}" for m in train_minutes(seeds))
        paper = PAPER_SCORES.get(experiment, {})
        lines += [f"## {label} on the {experiment} at this CPU's budget", "",
                  f"{network_label(cfg)}, {cfg['num_trials']} parallel trials of "
                  f"{cfg['episodes_per_trial']} pulls, {run['env_steps']:,} pulls per training "
                  f"seed (the paper's: 1,000,000,000), {minutes} min of meta-training per seed "
                  f"on {run['machine']}. Command (seed {seeds[0]['seed']}): `{run['command']}`. "
                  f"Scored as the {experiment} experiment scores its methods, (return - random) "
                  "/ (UCB - random) on the same tasks, ± over training seeds; the experiment's "
                  f"own RL² (an LSTM) and AD beside it. Files: [{RL2_DIR}/{name}/]"
                  f"({RL2_DIR}/{name}/).", "",
                  f"| split | seeds | {label} | paper's {label} | return per pull, first 10% -> "
                  "last 10% of the trial | RL² (LSTM) | paper's RL² | AD |",
                  "|---|---|---|---|---|---|---|---|"]
        for split, s in scores.items():
            theirs = results["scores"][split]
            lines.append(
                f"| {split} ({s['num_tasks']} tasks) | {len(s['per_seed'])} ({s['interval_over']})"
                f" | {_score_cell(s)} | {_paper_cell(paper, method, split)} | "
                f"{s['first_10pct']:.3f} -> {s['last_10pct']:.3f} | "
                f"{_score_cell(theirs.get('RL2'))} | {_paper_cell(paper, 'RL2', split)} | "
                f"{_score_cell(theirs.get('AD'))} |")
        lines.append("")
    return lines
