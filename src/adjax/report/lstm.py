"""LSTM-AD against the transformer's AD (Laskin et al. 2023: the transformer distils better than
an LSTM of the same inputs): the two AD curves of one experiment on the held-out tasks, on one
figure and in one REPORT.md section, with the difference over training seeds.

The LSTM run is published in <experiments>/lstm_ad/<experiment>/ (`python -m
adjax.experiments.<experiment> --model lstm --ad-only --publish experiments/lstm_ad/<experiment>`);
the transformer's is the experiment's own (<experiments>/<experiment>/). The two are compared over
the episodes both evaluated (the shorter run's), where the same evaluation keys give the same
tasks and seeds, and only when their configurations differ in the model alone (`comparable`).

    python -m adjax.report.lstm experiments darkroom   # the figure, into the LSTM run's figures/
"""

import argparse
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy import stats

from adjax.atomic import read_json, save_figure
from adjax.stats import mean_ci, seed_curves, tenth

EXPERIMENTS = ("darkroom", "key_to_door")
LSTM_DIR = "lstm_ad"
# Fields that may differ between the two runs besides the model: what ED, the refresh check and
# the number of seeds or evaluated episodes change, not what AD is trained on or evaluated with.
FREE = ("model", "train_ed", "train_seeds", "first_seed")
# The paper's appendix figure (LSTM hidden 512, MLP 2 x 256): Key-to-Door after 300 episodes.
PAPER = {"key_to_door": {"episode": 300, "transformer AD": 1.89, "LSTM-AD": 1.68}}


def comparable(lstm_cfg: dict, tf_cfg: dict) -> list[str]:
    """The experiment.json fields (besides FREE and the evaluation's refresh check, episodes and
    seed counts) in which the LSTM run differs from the transformer's: [] when comparable."""
    def strip(cfg):
        c = {k: v for k, v in cfg.items() if k not in FREE}
        ev = dict(c.get("eval", {}))
        ev.pop("refresh_check", None)
        ev["splits"] = [{k: v for k, v in s.items() if k != "num_episodes"}
                        for s in ev.get("splits", [])]
        return {**c, "eval": ev}
    a, b = strip(lstm_cfg), strip(tf_cfg)
    return sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))


def compare(lstm: dict, tf: dict, split: str = "test") -> dict:
    """The two AD curves on their common episodes: per model its per-seed curves (training seeds
    when >= 2), the first and last 10% of the common episodes, and the transformer-minus-LSTM
    difference of the last 10% with a Welch 95% interval over the two runs' seeds."""
    runs = {name: seed_curves(r["curves"][split]["AD"]) for name, r in
            (("LSTM-AD", lstm), ("transformer AD", tf))}
    E = min(x.shape[1] for x, _ in runs.values())
    k = tenth(E)
    out = {"episodes": E, "split": split, "models": {}}
    finals = {}
    for name, (x, unit) in runs.items():
        x = x[:, :E]
        first, first_h = mean_ci(x[:, :k].mean(axis=1))
        last, last_h = mean_ci(x[:, -k:].mean(axis=1))
        finals[name] = x[:, -k:].mean(axis=1)
        out["models"][name] = {"seeds": int(x.shape[0]), "interval_over": unit,
                               "first_10pct": round(float(first), 3),
                               "first_10pct_ci95": round(float(first_h), 3),
                               "last_10pct": round(float(last), 3),
                               "last_10pct_ci95": round(float(last_h), 3)}
    a, b = finals["transformer AD"], finals["LSTM-AD"]
    diff = float(a.mean() - b.mean())
    half = None
    if len(a) >= 2 and len(b) >= 2:
        va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
        dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1)) if va + vb else 1
        half = float(stats.t.ppf(0.975, dof) * np.sqrt(va + vb))
    out["difference"] = {"transformer_minus_lstm": round(diff, 3),
                         "ci95": None if half is None else round(half, 3),
                         "last_episodes": [E - k + 1, E]}
    if half is None:
        out["ordering"] = "not tested (fewer than 2 seeds of a model)"
    elif diff - half > 0:
        out["ordering"] = "holds: the transformer's AD is above LSTM-AD"
    elif diff + half < 0:
        out["ordering"] = "reversed: LSTM-AD is above the transformer's AD"
    else:
        out["ordering"] = "not shown: the interval of the difference contains 0"
    out["optimal"] = lstm["curves"][split].get("optimal")
    return out


def plot(lstm: dict, tf: dict, path: Path, split: str = "test") -> Path:
    """Both AD curves (mean and 95% interval over training seeds) on the common episodes."""
    E = min(len(r["curves"][split]["AD"]["per_seed"][0]) for r in (lstm, tf))
    fig = Figure(figsize=(6.5, 4))
    ax = fig.subplots()
    for (name, r), color in zip((("transformer AD", tf), ("LSTM-AD", lstm)),
                                ("tab:red", "tab:orange"), strict=True):
        x, unit = seed_curves(r["curves"][split]["AD"])
        mean, half = mean_ci(x[:, :E])
        eps = np.arange(1, E + 1)
        ax.plot(eps, mean, color=color, lw=1.5, label=f"{name} ({x.shape[0]} {unit} seeds)")
        ax.fill_between(eps, mean - half, mean + half, color=color, alpha=0.2, lw=0)
    random = lstm["curves"][split].get("random")
    if isinstance(random, dict):
        ax.plot(np.arange(1, E + 1), np.asarray(random["per_seed"])[:, :E].mean(axis=0),
                color="tab:gray", lw=1, label="random")
    opt = lstm["curves"][split].get("optimal")
    if opt is not None:
        ax.axhline(opt, color="k", ls="--", lw=1, label="optimal")
    ax.set_xlabel("episode (held-out tasks, weights frozen)")
    ax.set_ylabel("return per episode")
    ax.set_title(f"{lstm['env']}: LSTM-AD and transformer AD, same data and training",
                 fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)


def paper_line(name: str, lo: int, hi: int) -> list[str]:
    """The paper's two numbers for this experiment, as a bullet naming its episode and ours."""
    p = PAPER.get(name)
    if p is None:
        return []
    return [f"- The paper (appendix, its LSTM of 512, after {p['episode']} episodes): transformer "
            f"{p['transformer AD']:.2f}, LSTM {p['LSTM-AD']:.2f}, a gap of "
            f"{p['transformer AD'] - p['LSTM-AD']:.2f}; ours above are over episodes {lo}-{hi}."]


def lstm_lines(root: Path) -> list[str]:
    """REPORT.md's section: per experiment with a published LSTM run, the table, the ordering
    and the figure (drawn here when missing)."""
    lines = []
    for name in EXPERIMENTS:
        d = root / LSTM_DIR / name
        if not (d / "results.json").exists() or not (root / name / "results.json").exists():
            continue
        lstm, tf = read_json(d / "results.json"), read_json(root / name / "results.json")
        differ = comparable(read_json(d / "experiment.json"),
                            read_json(root / name / "experiment.json"))
        lines += [f"## LSTM-AD against the transformer's AD ({name})", ""]
        if differ:
            lines += [f"Not compared: the runs differ beyond the model in {', '.join(differ)}.",
                      ""]
            continue
        c = compare(lstm, tf)
        fig = d / "figures" / "lstm_vs_transformer.png"
        if not fig.exists():
            plot(lstm, tf, fig)
        E, (lo, hi) = c["episodes"], c["difference"]["last_episodes"]
        rows = ["| model | seeds | first 10% (episodes 1-"
                f"{tenth(E)}) | last 10% (episodes {lo}-{hi}) |", "|---|---|---|---|"]
        for model, m in c["models"].items():
            rows.append(f"| {model} | {m['seeds']} ({m['interval_over']}) | "
                        f"{m['first_10pct']:.2f} ± {m['first_10pct_ci95']:.2f} | "
                        f"{m['last_10pct']:.2f} ± {m['last_10pct_ci95']:.2f} |")
        diff = c["difference"]
        ci = "" if diff["ci95"] is None else f" ± {diff['ci95']:.2f}"
        lines += [f"Command: `{lstm['command']}`, beside the transformer's published run "
                  f"(`{tf['command']}`; machines: {lstm.get('machine', '?')} and "
                  f"{tf.get('machine', '?')}); the same data, training and evaluation keys, "
                  f"compared over the {E} held-out episodes both evaluated; ± is the 95% "
                  "interval over training seeds. Details: "
                  f"[{LSTM_DIR}/{name}/summary.md]({LSTM_DIR}/{name}/summary.md).", "", *rows,
                  "", f"- Transformer minus LSTM over episodes {lo}-{hi}: "
                  f"{diff['transformer_minus_lstm']:+.2f}{ci} (Welch). The paper's ordering "
                  f"(transformer above LSTM): {c['ordering']}.", *paper_line(name, lo, hi), "",
                  f"![LSTM-AD against the transformer's AD]({LSTM_DIR}/{name}/figures/"
                  "lstm_vs_transformer.png)", ""]
    return lines


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m adjax.report.lstm", description=__doc__.split(
        "\n\n")[0])
    ap.add_argument("root", type=Path, help="the published experiments, e.g. experiments")
    ap.add_argument("experiment", choices=EXPERIMENTS)
    args = ap.parse_args(argv)
    d = args.root / LSTM_DIR / args.experiment
    lstm, tf = read_json(d / "results.json"), read_json(args.root / args.experiment /
                                                        "results.json")
    c = compare(lstm, tf)
    print(plot(lstm, tf, d / "figures" / "lstm_vs_transformer.png"))
    print(json.dumps(c, indent=1))
    return c


if __name__ == "__main__":
    main()
