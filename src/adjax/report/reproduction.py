"""experiments/REPORT.md: each reproduced number beside the paper's, from results JSON (no JAX)."""

import json
from pathlib import Path

import numpy as np

from adjax.report.paper import PAPER_CURVES, PAPER_SCORES
from adjax.report.stats import mean_ci

SPLIT_NAMES = {"test": "held-out", "train": "training", "odd": "odd (seen)",
               "even": "even (unseen)", "uniform": "uniform (unseen)"}


def _fmt(mean: float, half: float) -> str:
    return f"{mean:.2f} ± {half:.2f}"


def _curve_rows(name: str, results: dict) -> list[list[str]]:
    """Rows (experiment, tasks, method, quantity, ours, paper) for return-per-episode curves:
    episode 1, the paper's checkpoints that were evaluated, and the last 10% of episodes."""
    rows = []
    paper = PAPER_CURVES.get(results["env"], {})
    for split, methods in results["curves"].items():
        variants = [k for k in methods if k.startswith("AD (")]  # AD at other temperatures
        for method in ("AD", *variants, "ED", "source", "random"):
            m = methods.get(method)
            if not isinstance(m, dict):
                continue
            per_seed = np.asarray(m["per_seed"], np.float64)
            seeds, n = per_seed.shape
            tasks = f"{SPLIT_NAMES.get(split, split)}: {m.get('num_tasks', '?')} × {seeds} seeds"
            ref = paper.get(method, {}) if split == "test" else {}
            tag = " (A3C)" if method == "source" else ""  # the paper's source, not ours
            for ep in sorted({1, *(e for e in ref if e <= n)}):
                ours = _fmt(*map(float, mean_ci(per_seed[:, ep - 1])))
                rows.append([name, tasks, method, f"return, episode {ep}", ours,
                             f"{ref[ep]:g}{tag}" if ep in ref else "–"])
            k = max(1, n // 10)
            ours = _fmt(*map(float, mean_ci(per_seed[:, n - k:].mean(axis=1))))
            final = ref.get(1000) if ref else None
            rows.append([name, tasks, method, f"return, episodes {n - k + 1}-{n}", ours,
                         f"{final:g}{tag} (episode 1000)" if final is not None else "–"])
        if "optimal" in methods:
            rows.append([name, SPLIT_NAMES.get(split, split), "optimal", "return",
                         f"{methods['optimal']:.2f}", "–"])
    return rows


def _score_rows(name: str, results: dict) -> list[list[str]]:
    paper = PAPER_SCORES.get(results["env"], {})
    rows = []
    for split, s in results["scores"].items():
        n_tasks = results["curves"][split]["AD"]["num_tasks"]
        for method in ("AD", "ED"):
            if method in s:
                seeds = len(s[method]["per_seed"])
                ref = paper.get(method, {}).get(split)
                rows.append([name, f"{SPLIT_NAMES.get(split, split)}: {n_tasks} × {seeds} seeds",
                             method, "normalised score", _fmt(s[method]["mean"], s[method]["ci95"]),
                             "–" if ref is None else f"{ref:g}"])
    return rows


# The CPU targets of the quick presets (issue 7 and 6): (experiment, quantity, threshold).
# Quantities: "score <split>" (normalised AD score), "final" (held-out AD return over the last
# 10% of episodes), "minutes" (sum of the stages' wall times).
TARGETS = (
    ("bandit", "score odd", 0.9), ("bandit", "score even", 0.8),
    ("bandit", "score uniform", 0.8),
    ("darkroom", "final", 12.0), ("darkroom", "minutes", 15.0),
    ("darkroom_hard", "final", 0.6), ("darkroom_hard", "minutes", 60.0),
    ("key_to_door", "final", 1.6), ("key_to_door", "minutes", 90.0),
)


def _target_rows(found: list, root: Path) -> list[str]:
    rows = ["| experiment | target | reached | met |", "|---|---|---|---|"]
    results = dict(found)
    for name, quantity, threshold in TARGETS:
        if name not in results or results[name].get("preset") != "quick":
            continue
        res = results[name]
        if quantity == "minutes":
            value, want = _wall_time(root / name) / 60, f"≤ {threshold:g} min"
            ok = value <= threshold
        elif quantity.startswith("score"):
            split = quantity.split()[1]
            value = res.get("scores", {}).get(split, {}).get("AD", {}).get("mean", float("nan"))
            want, ok = f"AD score on {split} ≥ {threshold:g}", value >= threshold
        else:
            per_seed = np.asarray(res["curves"]["test"]["AD"]["per_seed"], np.float64)
            k = max(1, per_seed.shape[1] // 10)
            value = float(per_seed[:, -k:].mean())
            want, ok = f"held-out AD, last 10% of episodes ≥ {threshold:g}", value >= threshold
        rows.append(f"| {name} | {want} | {value:.2f} | {'yes' if ok else '**no**'} |")
    return rows if len(rows) > 2 else []


def _wall_time(exp_dir: Path) -> float:
    """Seconds of compute of the reference run: the sum of its stages (reruns reuse stages)."""
    path = exp_dir / "timings.json"
    return float(sum(json.loads(path.read_text()).values())) if path.exists() else float("nan")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _machines(found) -> str:
    """The machine line of the runs; when they differ (e.g. in device count), each run's."""
    machines = {name: res.get("machine", "?") for name, res in found}
    if len(set(machines.values())) == 1:
        return next(iter(machines.values()))
    return "; ".join(f"{name}: {m}" for name, m in machines.items())


def write_report(experiments_dir, names, path=None, command: str = "make reproduce",
                 notes: dict[str, str] | None = None) -> Path:
    """Read experiments_dir/<name>/results.json for each name; write REPORT.md (atomically).
    notes: {name: text} shown under each experiment's section (the presets' docstrings: what
    was chosen, tried and measured)."""
    root = Path(experiments_dir)
    path = Path(path) if path is not None else root / "REPORT.md"
    found = [(n, json.loads((root / n / "results.json").read_text())) for n in names
             if (root / n / "results.json").exists()]
    if not found:
        raise FileNotFoundError(f"no results.json under {root} for {list(names)}")
    head = ["experiment", "tasks × seeds", "method", "quantity", "ours (mean ± 95% CI)",
            "paper (held-out)"]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res in found:
        rows = _score_rows(name, res) if "scores" in res else []
        rows += _curve_rows(name, res) if "scores" not in res else []
        table += ["| " + " | ".join(r) + " |" for r in rows]
    total = sum(_wall_time(root / n) for n, _ in found)
    lines = [
        "# Reproduction report",
        "",
        f"Regenerate everything here with `{command}` (every experiment's preset, reusing complete "
        "stages, then this report). One training seed per experiment; intervals are 95% "
        "t-intervals over evaluation seeds (each seed averaged over its tasks). The paper's "
        "numbers are read off its figures (Laskin et al. 2023, Figs. 3-4; ±1% of the axis) and "
        "are means over 5 training seeds × 20 evaluation seeds on held-out tasks.",
        "",
        f"Machine: {_machines(found)}. Total compute: {_minutes(total)}.",
        "",
        "## Every reproduced number",
        "",
        *table,
        "",
    ]
    targets = _target_rows(found, root)
    if targets:
        lines += ["## The quick presets' targets on this CPU", "", *targets, ""]
    for name, res in found:
        exp = root / name
        lines += [f"## {name} ({res.get('preset', '?')} preset)", "",
                  f"Command: `{res.get('command', '?')}`; wall time {_minutes(_wall_time(exp))} "
                  f"(stages: {json.dumps(res.get('wall_time_s', {}))}). "
                  f"Details: [{name}/summary.md]({name}/summary.md).", ""]
        if notes and notes.get(name):
            lines += ["Preset notes:", "", *(f"> {line}".rstrip() for line in
                                             notes[name].splitlines()), ""]
        lines += [f"![{name}]({name}/figures/{f.name})" for f in
                  sorted((exp / "figures").glob("*.png"))] + [""]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("\n".join(lines))
    tmp.replace(path)
    return path
