"""experiments/REPORT.md: each reproduced number beside the paper's, from results JSON (nothing is
computed with JAX; the analyses' section and `preset_changes` import the experiments' modules to
check published configurations against today's presets)."""

import json
from pathlib import Path

import numpy as np

from adjax.atomic import read_json, write_text
from adjax.report.ablations import ablation_lines
from adjax.report.lstm import lstm_lines
from adjax.report.paper import PAPER_SCORES, paper_curves
from adjax.report.prompting import prompting_lines
from adjax.report.rl2 import rl2_lines
from adjax.report.rl2_bandit import bandit_lines, published_bandit_scores
from adjax.report.tables import TRAINED_METHODS, method_label, paper_method, rl2_line, stage_times
from adjax.stats import mean_ci, seed_curves, step_bin, tenth

SPLIT_NAMES = {"test": "held-out", "val": "validation", "train": "training",
               "odd": "odd (seen)", "even": "even (unseen)", "uniform": "uniform (unseen)"}


def _fmt(mean: float, half: float) -> str:
    return f"{mean:.2f} ± {half:.2f}"


def _seeds_text(m: dict, split: str) -> str:
    k = len(m.get("per_train_seed", []))
    seeds = f"{k} × {len(m['per_seed'])} seeds" if k else f"{len(m['per_seed'])} seeds"
    return f"{SPLIT_NAMES.get(split, split)}: {m.get('num_tasks', '?')} tasks × {seeds}"


def _curve_rows(name: str, results: dict) -> list[list[str]]:
    """Rows (experiment, tasks, method, quantity, ours, over, paper) for return-per-episode
    curves: episode 1, every episode the paper reports that was evaluated (the paper's value at
    the same episode), and the last 10% of episodes (the paper's value at the last episode when
    it reports one there); after the refresh check's split, that check's rows."""
    rows = []
    for split, methods in results["curves"].items():
        for method in (*TRAINED_METHODS, "source", "random"):
            m = methods.get(method)
            if not isinstance(m, dict):
                continue
            runs, unit = seed_curves(m)
            n = runs.shape[1]
            ref_name = paper_method(results, method)
            ref = paper_curves(results).get(ref_name, {}) if (
                split == "test" and ref_name) else {}
            shown = (f"source ({results['source_name']})" if method == "source"
                     and results.get("source_name") else method_label(method))
            for ep in sorted({1, *(e for e in ref if e <= n)}):
                ours = _fmt(*map(float, mean_ci(runs[:, ep - 1])))
                rows.append([name, _seeds_text(m, split), shown, f"return, episode {ep}", ours,
                             unit, f"{ref[ep]:g}" if ep in ref else "–"])
            k = tenth(n)
            ours = _fmt(*map(float, mean_ci(runs[:, n - k:].mean(axis=1))))
            rows.append([name, _seeds_text(m, split), shown,
                         f"return, episodes {n - k + 1}-{n}", ours, unit,
                         f"{ref[n]:g} (episode {n})" if n in ref else "–"])
        if "optimal" in methods:
            rows.append([name, SPLIT_NAMES.get(split, split), "optimal", "return",
                         f"{methods['optimal']:.2f}", "", "–"])
        if split == results.get("refresh", {}).get("split"):
            rows += _refresh_rows(name, results)
    return rows


def _refresh_seeds(r: dict) -> str:
    """"training seed 0" / "training seeds 0, 1" of a refresh check (checks made before every
    seed had one are training seed 0's)."""
    seeds = r.get("train_seeds", [0])
    return f"training seed{'s' * (len(seeds) > 1)} {', '.join(map(str, seeds))}"


def _refresh_rows(name: str, results: dict) -> list[list[str]]:
    """AD under the paper's queue and under the block refresh on the refresh check's pairs
    (results["refresh"], `adjax.experiments.pipeline.refresh_summary`), last 10% of its
    episodes, each with its interval (over training seeds when several were checked, else over
    the task × seed pairs): the number to set beside the paper's where the two refreshes differ.
    Checks written before the per-mode intervals were kept show the means alone."""
    r = results.get("refresh")
    if not r:
        return []
    n, last = r["episodes"], r["last_10pct"]
    ref_name = paper_method(results, "AD") if r["split"] == "test" else None
    ref = paper_curves(results).get(ref_name, {}) if ref_name else {}
    tasks = f"{SPLIT_NAMES.get(r['split'], r['split'])}: {last['pairs']} task × seed pairs"
    rows = []
    for mode, label in (("queue", "AD, paper's queue refresh"), ("block", "AD, block refresh")):
        half = last.get(f"{mode}_ci95")
        ours = f"{last[mode]:.2f}" if half is None else _fmt(last[mode], half)
        rows.append([name, tasks, f"{label} ({_refresh_seeds(r)})",
                     f"return, episodes {n - tenth(n) + 1}-{n}", ours,
                     r.get("over", "task × seed pairs"),
                     f"{ref[n]:g} (episode {n})" if n in ref else "–"])
    return rows


def _source_rows(name: str, results: dict) -> list[list[str]]:
    """Rows for the source learning from scratch on the env-step axis (results["source_curves"]):
    its return once it has consumed as many env steps (all its actors) as AD by its episode 1,
    by AD's last evaluated episode, and as one stream by each episode the paper reports its
    source at (as far as the source ran), and the env steps it needs to reach AD's last-10%
    return. The paper's A3C curve (one stream, like AD at test time) sits beside the 1-actor
    rows at the same step."""
    L = int(results.get("episode_len", 1))
    paper = paper_curves(results).get("source", {})
    rows = []
    for label, d in results.get("source_curves", {}).items():
        steps = np.asarray(d["steps"])
        runs = np.asarray(d["per_seed"], np.float64)
        who = f"source ({results.get('source_name', '?')}, {label}) from scratch"
        tasks = (f"{SPLIT_NAMES.get(d['split'], d['split'])}: {d['num_tasks']} tasks × "
                 f"{runs.shape[0]} seeds")
        summ = results.get("summary", {}).get(f"source {label} {d['split']}", {})
        ad_eps = int(summ.get("ad_episodes", 0))
        ref = paper if d["num_actors"] == 1 and d["split"] == "test" else {}
        for ep in sorted({1, *ref, *([ad_eps] if ad_eps else [])}):
            b = step_bin(steps, ep * L)
            if b is None:
                continue
            ours = _fmt(*map(float, mean_ci(runs[:, b])))
            when = f"AD episode {ep}" if ep <= ad_eps else f"a stream's episode {ep}"
            rows.append([name, tasks, who, f"return at {ep * L:,} env steps ({when})",
                         ours, "source seeds", f"{ref[ep]:g}" if ep in ref else "–"])
        if "ad_last_10pct" in summ:
            reach = summ["steps_to_ad_last_10pct"]
            rows.append([name, tasks, who,
                         f"env steps to reach AD's last 10% ({summ['ad_last_10pct']:.2f})",
                         "not reached" if reach is None else f"{reach:,}",
                         f"of {d['steps_consumed']:,}", "–"])
    return rows


def _score_rows(name: str, results: dict, others: dict | None = None) -> list[list[str]]:
    """The normalised scores' rows, per split: the experiment's methods, then `others` (paper
    method -> {split: score}: RL² networks published apart,
    `report.rl2_bandit.published_bandit_scores`)."""
    paper = PAPER_SCORES.get(results["env"], {})
    rows = []
    for split, s in results["scores"].items():
        n_tasks = results["curves"][split]["AD"]["num_tasks"]
        scored = [(m, s[m]) for m in TRAINED_METHODS if m in s]
        scored += [(m, o[split]) for m, o in (others or {}).items() if split in o]
        for method, sc in scored:
            ref = paper.get(method, {}).get(split)
            rows.append([name, f"{SPLIT_NAMES.get(split, split)}: {n_tasks} tasks",
                         method_label(method), "normalised score",
                         _fmt(sc["mean"], sc["ci95"]),
                         f"{len(sc['per_seed'])} {sc.get('interval_over', 'evaluation')}",
                         "–" if ref is None else f"{ref:g}"])
    return rows


# The CPU targets of the quick presets (held-out tasks, temperature 1): (experiment, quantity,
# threshold). Quantities: "score <split>" (normalised AD score), "final" (held-out AD return over
# the last 10% of episodes), "final_lo" (the lower end of its interval over training seeds),
# "minutes" (sum of the stages' wall times per training seed), "ed_flat" (held-out ED does not
# improve in context: its last 10% of episodes within or below its first 10%'s interval).
TARGETS = (
    ("bandit", "score odd", 0.9), ("bandit", "score even", 0.8),
    ("bandit", "score uniform", 0.8),
    ("darkroom", "final", 12.0), ("darkroom", "final_lo", 11.0), ("darkroom", "ed_flat", None),
    ("darkroom_hard", "final", 0.6), ("darkroom_hard", "final_queue", 0.6),
    ("darkroom_hard", "ed_flat", None),
    ("key_to_door", "final", 1.6), ("key_to_door", "ed_flat", None),
    # the A3C-source presets (the paper: 9.6 at episode 200, 14.1 at 1000)
    ("a3c/darkroom", "episode 200", 9.6), ("a3c/darkroom", "episodes 901-1000", 13.0),
    ("a3c/darkroom", "above 1 actor", None),
    ("a3c/key_to_door", "final", 1.6),  # the paper: 1.66 at episode 200
    # Fig. 6: AD after 10k test-time steps (1.70) above the single-stream source after 50k (1.35)
    ("single_stream", "above 1 actor at 5x", None),
)
PRESET_OF = {"a3c/darkroom": "a3c", "a3c/key_to_door": "a3c"}  # a target's preset (else quick)


def _target_rows(found: list, root: Path) -> list[str]:
    rows = ["| experiment | target | reached | met |", "|---|---|---|---|"]
    results = dict(found)
    for name, quantity, threshold in TARGETS:
        if name not in results or results[name].get("preset") != PRESET_OF.get(name, "quick"):
            continue
        res = results[name]
        if quantity.startswith("score"):
            split = quantity.split()[1]
            value = res.get("scores", {}).get(split, {}).get("AD", {}).get("mean", float("nan"))
            want, ok = f"AD score on {split} ≥ {threshold:g}", value >= threshold
        elif quantity == "ed_flat":
            ed = res.get("curves", {}).get("test", {}).get("ED")
            if ed is None:
                continue
            runs, unit = seed_curves(ed)
            k = tenth(runs.shape[1])
            first, half = mean_ci(runs[:, :k].mean(axis=1))
            last = float(runs[:, -k:].mean())
            ok = last <= first + half
            rows.append(f"| {name} | held-out ED does not improve in context: last 10% of "
                        f"episodes within or below the first 10%'s 95% interval (over "
                        f"{len(runs)} {unit} seeds) | {float(first):.2f} ± {float(half):.2f} -> "
                        f"{last:.2f} | {'yes' if ok else '**no**'} |")
            continue
        elif quantity == "final_queue":  # the same target under the paper's queue refresh
            r = res.get("refresh")
            n = len(res["curves"]["test"]["AD"]["per_seed"][0])
            if not r or r["split"] != "test" or r["episodes"] != n:
                continue  # no check over the target's episodes
            last = r["last_10pct"]
            value, ok = last["queue"], last["queue"] >= threshold
            rows.append(f"| {name} | held-out AD under the paper's queue refresh, last 10% of "
                        f"episodes ≥ {threshold:g} ({_refresh_seeds(r)}, {last['pairs']} task × "
                        f"seed pairs) | {value:.2f} | {'yes' if ok else '**no**'} |")
            continue
        elif quantity.endswith(" at 5x"):  # AD above the source after 5x AD's env steps
            label = quantity.removeprefix("above ").removesuffix(" at 5x")
            summ = res.get("summary", {}).get(f"source {label} test", {})
            d = res.get("source_curves", {}).get(label)
            if d is None or "ad_steps" not in summ:
                continue
            steps = 5 * summ["ad_steps"]
            want = (f"held-out AD over its last 10% of episodes (by {summ['ad_steps']:,} env "
                    f"steps) ≥ its source ({label}) from scratch after {steps:,} steps")
            b = step_bin(np.asarray(d["steps"]), steps)
            if b is None:
                rows.append(f"| {name} | {want} | the source ran {d['steps_consumed']:,} steps "
                            "| – |")
                continue
            src = float(np.asarray(d["per_seed"], np.float64)[:, b].mean())
            ok = summ["ad_last_10pct"] >= src
            rows.append(f"| {name} | {want} | {summ['ad_last_10pct']:.2f} vs {src:.2f} | "
                        f"{'yes' if ok else '**no**'} |")
            continue
        elif quantity.startswith("above"):  # AD above the source from scratch, same env step
            label = quantity.removeprefix("above ")
            summ = res.get("summary", {}).get(f"source {label} test")
            if summ is None or "ad_above_from_episode_20" not in summ:
                continue
            ok = summ["ad_above_from_episode_20"]
            want = (f"held-out AD above its source from scratch ({label}) at every env step "
                    f"from its episode 20 to {summ['ad_episodes']}")
            rows.append(f"| {name} | {want} | {'above' if ok else 'not above'} | "
                        f"{'yes' if ok else '**no**'} |")
            continue
        else:
            runs, unit = seed_curves(res["curves"]["test"]["AD"])
            n = runs.shape[1]
            if quantity.startswith("episode"):  # "episode e" or "episodes a-b"
                a, _, b = quantity.split()[1].partition("-")
                a, b = int(a), int(b or a)
                want = f"held-out AD, {quantity} ≥ {threshold:g}"
                if b > n:
                    rows.append(f"| {name} | {want} | not evaluated ({n} episodes) | – |")
                    continue
                value = float(runs[:, a - 1:b].mean())
            else:
                mean, half = mean_ci(runs[:, -tenth(n):].mean(axis=1))
                if quantity == "final":
                    k = len(res["curves"]["test"]["AD"].get("per_train_seed") or []) or 1
                    value = float(mean)
                    want = (f"held-out AD, last 10% of episodes ≥ {threshold:g} "
                            f"({k} training seed{'s' * (k != 1)})")
                else:
                    value = float(mean - half)
                    want = (f"lower end of its 95% interval over {len(runs)} {unit} seeds "
                            f"≥ {threshold:g}")
            ok = value >= threshold
        rows.append(f"| {name} | {want} | {value:.2f} | {'yes' if ok else '**no**'} |")
    return rows if len(rows) > 2 else []


def refresh_line(r: dict) -> str:
    """One sentence on the refresh check (`adjax.experiments.pipeline.refresh_check`)."""
    a, last = r["all"], r["last_10pct"]
    n = r["episodes"]
    return (f"Context refresh (AD, {_refresh_seeds(r)}, {SPLIT_NAMES.get(r['split'], r['split'])} "
            f"tasks, {a['pairs']} task × seed pairs, {n} episodes, same keys): block refresh "
            f"{a['block']:.2f}, the paper's queue {a['queue']:.2f} over all episodes, difference "
            f"(queue − block) {a['queue_minus_block']:+.2f} ± {a['ci95']:.2f}; over episodes "
            f"{n - tenth(n) + 1}-{n} {last['block']:.2f} vs {last['queue']:.2f}, "
            f"{last['queue_minus_block']:+.2f} ± {last['ci95']:.2f} (95% interval over "
            f"{r.get('over', 'task × seed pairs')}). "
            + refresh_verdict(r))


def refresh_verdict(r: dict) -> str:
    """What the refresh check says of the table's numbers (made with the block refresh)."""
    beyond = [w for w in (r["all"], r["last_10pct"]) if abs(w["queue_minus_block"]) > w["ci95"]]
    if not beyond:
        return "The two agree within the intervals."
    reported = (" under the paper's evaluation: the queue's rows are the numbers to set beside "
                "the paper's at that episode, the block refresh the fast path for whole curves.")
    if all(w["queue_minus_block"] > 0 for w in beyond):
        return ("The paper's queue scores higher beyond the interval: the table's numbers (block "
                "refresh) understate AD" + reported)
    if all(w["queue_minus_block"] < 0 for w in beyond):
        return ("The paper's queue scores lower beyond the interval: the table's numbers (block "
                "refresh) overstate AD" + reported)
    return "The two differ beyond the interval, in opposite directions over the two windows."


def _leaves(d, path: str = "") -> dict:
    """{dotted path: value} of a JSON dict's non-dict leaves."""
    if not isinstance(d, dict):
        return {path: d}
    return {k: v for key, sub in d.items()
            for k, v in _leaves(sub, f"{path}.{key}" if path else key).items()}


def preset_changes(exp_dir: Path, res: dict) -> list[str]:
    """'field: published -> today's' for each field that decides what a run trained (its
    data, `reuse.DATA_FIELDS`, its models and training; its evaluation and seed count are its
    command's own) where today's preset differs from the published run's experiment.json; []
    when they agree, or when the run's preset or configuration is not known here."""
    import importlib

    from adjax.experiments.reuse import DATA_FIELDS
    from adjax.experiments.runner import config_with_defaults

    path = Path(exp_dir) / "experiment.json"
    try:
        module = importlib.import_module(f"adjax.experiments.{res['experiment']}")
        today = json.loads(json.dumps(module.PRESETS[res["preset"]]().to_dict()))
    except (ImportError, AttributeError, KeyError, TypeError):
        return []
    if not path.exists():
        return []
    then = config_with_defaults(read_json(path))
    fields = (*DATA_FIELDS, "model", "train_ad", "train_ed")
    old, new = (_leaves({k: c.get(k) for k in fields}) for c in (then, today))
    return [f"{k}: {old.get(k)} -> {new.get(k)}"
            for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


def _wall_time(exp_dir: Path) -> float:
    """Seconds of compute of the reference run: the sum of its stages (reruns reuse stages)."""
    path = exp_dir / "timings.json"
    return float(sum(json.loads(path.read_text()).values())) if path.exists() else float("nan")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min"


def _machines(found) -> str:
    """The machine line of the runs; when they differ (e.g. in device count), each run's."""
    machines = {name: res.get("machine", "?") for name, res in found}
    if not machines:
        return "–"
    if len(set(machines.values())) == 1:
        return next(iter(machines.values()))
    return "; ".join(f"{name}: {m}" for name, m in machines.items())


def write_report(experiments_dir, names, path=None, command: str = "make reproduce") -> Path:
    """Read experiments_dir/<name>/results.json for each name; write REPORT.md (atomically),
    linking each experiment's NOTES.md (what was tried) when there is one."""
    root = Path(experiments_dir)
    path = Path(path) if path is not None else root / "REPORT.md"
    found = [(n, read_json(root / n / "results.json")) for n in names
             if (root / n / "results.json").exists()]
    if not found:
        raise FileNotFoundError(f"no results.json under {root} for {list(names)}")
    # Results written before the train / val / test protocol (no "train_seeds" field: presets
    # tuned on the held-out tasks, one training seed) are listed apart, not reported.
    legacy = [n for n, res in found if "train_seeds" not in res]
    found = [(n, res) for n, res in found if "train_seeds" in res]
    head = ["experiment", "tasks × training × evaluation seeds", "method", "quantity",
            "ours (mean ± 95% CI)", "interval over", "paper (held-out, same episode)"]
    table = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, res in found:
        rows = _score_rows(name, res, published_bandit_scores(root, name, res)) if (
            "scores" in res) else []
        rows += _curve_rows(name, res) if "scores" not in res else []
        rows += _source_rows(name, res)
        table += ["| " + " | ".join(r) + " |" for r in rows]
    total = sum(_wall_time(root / n) for n, _ in found)
    lines = [
        "# Reproduction report",
        "",
        f"Regenerate everything here with `{command}` (every experiment's preset, reusing "
        "complete stages, then this report; the report alone, from the committed results: "
        "`python -m adjax.experiments.reproduce --report-only`). Each experiment's choices "
        "were made on its validation tasks; the table reports its test (held-out) tasks, "
        "sampling at temperature 1. Intervals are 95% t-intervals over training seeds (each "
        "training seed's return averaged over its tasks and 20 evaluation seeds), or over "
        "evaluation seeds where the column says so (one training seed). The paper's "
        "numbers are read off its figures (Laskin et al. 2023, Figs. 3-4; ±1% of the axis) and "
        "are means over 5 training seeds × 20 evaluation seeds on held-out tasks.",
        "",
        f"Machine: {_machines(found) if found else 'no result yet'}. "
        f"Total compute: {_minutes(total)}.",
        "",
        "## Every reproduced number",
        "",
        *(table if found else ["No experiment has been rerun under this protocol yet."]),
        "",
    ]
    if legacy:
        lines += ["## Awaiting a rerun under this protocol", "",
                  "These experiments' committed results predate the protocol above (their presets "
                  "were tuned on the held-out tasks, with one training seed, and their training "
                  "tasks included today's validation tasks), so no number of theirs is reported "
                  "here. Their old summaries stay as history; `python -m adjax.experiments."
                  "reproduce --only NAME` reruns one.", "",
                  *(f"- {n}: [old summary]({n}/summary.md)" + (
                      f", [notes]({n}/NOTES.md)" if (root / n / "NOTES.md").exists() else "")
                    for n in legacy), ""]
    targets = _target_rows(found, root)
    if targets:
        lines += ["## The CPU presets' targets on this CPU", "", *targets, ""]
    lines += prompting_lines(root)
    lines += ablation_lines(root)
    lines += lstm_lines(root)
    lines += rl2_lines(root) + bandit_lines(root)
    for name, res in found:
        exp = root / name
        lines += [f"## {name} ({res.get('preset', '?')} preset)", "",
                  f"Command: `{res.get('command', '?')}`; wall time {_minutes(_wall_time(exp))} "
                  f"(stages: {json.dumps(stage_times(res))}). "
                  f"Details: [{name}/summary.md]({name}/summary.md).", ""]
        if changes := preset_changes(exp, res):
            lines += [f"These results are of an earlier version of the {res['preset']} preset: "
                      f"today's differs in {'; '.join(changes)} (why: its NOTES.md). "
                      f"`python -m adjax.experiments.{res['experiment']} --preset "
                      f"{res['preset']}` reruns them.", ""]
        if "refresh" in res:
            lines += [refresh_line(res["refresh"]), ""]
        if "rl2" in res:
            lines += [rl2_line(res["rl2"]), ""]
        if (exp / "NOTES.md").exists():
            lines += [f"What was tried, and the history of this preset: "
                      f"[{name}/NOTES.md]({name}/NOTES.md).", ""]
        lines += [f"![{name}]({name}/figures/{f.name})" for f in
                  sorted((exp / "figures").glob("*.png"))] + [""]
        gifs = sorted((exp / "figures").glob("*_episodes.gif"))  # adjax.report.trajectories
        if gifs:
            lines += ["AD's paths on the held-out task drawn above, step by step: " + ", ".join(
                f"[{f.name}]({name}/figures/{f.name})" for f in gifs) + ".", ""]
    return write_text(path, "\n".join(lines))
