"""Markdown tables of in-context returns next to the paper's numbers."""

import numpy as np

from adjax.report.paper import PAPER_SCORES, PAPER_SOURCE, paper_curves, paper_value
from adjax.stats import mean_ci, seed_curves, step_bin, tenth

CHECKPOINTS = (1, 200, 400, 1000)  # episodes the paper reports (Dark envs)
PAPER_EPISODES = {"watermaze": (1, 160)}  # other envs' evaluation length in the paper's figure


PAPER_SOURCE_LABEL = {"A2C": "A3C, paper (one stream)", "DQN": "DQN, paper"}
TRAINED_METHODS = ("AD", "ED", "RL2")  # methods with training seeds, as results name them
LABELS = {"RL2": "RL²", "RL2-Transformer": "RL²-Transformer"}


def stage_times(results: dict) -> dict[str, float]:
    """A results.json's seconds per stage (`wall_time_s`). The whole invocation's time has its
    own field, `invocation_s`; files written before that kept it in `wall_time_s` as
    "this_invocation", which is not a stage and is dropped here."""
    return {k: v for k, v in results.get("wall_time_s", {}).items() if k != "this_invocation"}


def method_label(method: str) -> str:
    """A method's name as reports print it."""
    return LABELS.get(method, method)


def checkpoints(env: str) -> tuple[int, ...]:
    """The episodes at which the paper reports an env's in-context return."""
    return PAPER_EPISODES.get(env, CHECKPOINTS)


def _cell(runs: np.ndarray, episodes: slice | int) -> str:
    x = runs[:, episodes]
    x = x.mean(axis=1) if x.ndim == 2 else x
    mean, half = mean_ci(x)
    return f"{float(mean):.2f} ± {float(half):.2f}"


def paper_method(results: dict, method: str) -> str | None:
    """The paper's curve to set beside ours: AD and ED always; the source only when ours is the
    paper's algorithm for that env (A3C, which we run synchronously as A2C; DQN on Watermaze)."""
    if method == "source":
        theirs = PAPER_SOURCE.get(results.get("env"), "A2C")
        return "source" if results.get("source_name", "").startswith(theirs) else None
    return method if method in TRAINED_METHODS else None


def results_table(results: dict) -> str:
    """Markdown table: every split × method, returns at the paper's checkpoints and the last 10%,
    with the paper's value at the same episode in a row under ours (held-out tasks only).

    `results` follows the experiment results schema (`adjax.experiments.runner`): each
    results["curves"][split][method] has "per_seed" [S][E] (evaluation seeds) and, for trained
    methods, "per_train_seed" [K][E]. Cells are mean ± 95% t-interval half-width over training
    seeds (over evaluation seeds when there is one training seed); the last column gives the
    evaluation-seed interval of the last 10% beside it.
    """
    env = results["env"]
    splits = results["curves"]
    lengths = {np.asarray(m["per_seed"]).shape[1]
               for s in splits.values() for m in s.values() if isinstance(m, dict)}
    num_eps = max(lengths)
    cps = [e for e in checkpoints(env) if e <= num_eps]
    if num_eps not in cps:
        cps.append(num_eps)
    k = tenth(num_eps)
    last_head = (f"last 10% (ep {num_eps - k + 1}-{num_eps})" if len(lengths) == 1
                 else "last 10% of the row's episodes")
    head = ["split", "method", "train seeds × eval seeds × tasks"] + [
        f"ep {e}" for e in cps] + [last_head, "± over eval seeds"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    source = results.get("source_name")
    for split, methods in splits.items():
        for method, m in methods.items():
            if not isinstance(m, dict):
                continue
            runs, _ = seed_curves(m)
            evals = np.asarray(m["per_seed"], np.float64)
            n = runs.shape[1]
            cells = [_cell(runs, e - 1) if e <= n else "–" for e in cps]
            last = slice(n - tenth(n), n)
            k_seeds = len(m.get("per_train_seed", [])) or "–"
            size = f"{k_seeds} × {evals.shape[0]} × {m.get('num_tasks', '?')}"
            name = f"source ({source})" if method == "source" and source else method_label(method)
            rows.append("| " + " | ".join([split, name, size, *cells, _cell(runs, last),
                                           _cell(evals, last)]) + " |")
            ref = paper_method(results, method)
            paper = paper_curves(results).get(ref, {}) if split == "test" and ref else {}
            if paper:
                vals = [f"{paper[e]:g}" if e in paper else "–" for e in cps]
                rows.append("| " + " | ".join([split, f"{name}, paper", "5 × 20 × –", *vals,
                                               f"{paper[n]:g} (ep {n})" if n in paper else "–",
                                               ""]) + " |")
        if "optimal" in methods:
            rows.append(f"| {split} | optimal | | " + " | ".join(
                [f"{methods['optimal']:.2f}"] * len(cps)) + f" | {methods['optimal']:.2f} | |")
    return "\n".join(rows) + "\n"


def scores_table(results: dict) -> str:
    """Markdown table of normalised scores (results["scores"]): one row per split, AD, ED (and
    RL² where run) as mean ± 95% t-interval over seeds, the paper's values beside them, and the
    raw mean rewards of random and the source that define 0 and 1."""
    paper = PAPER_SCORES.get(results["env"], {})
    methods = [m for m in TRAINED_METHODS
               if m in ("AD", "ED") or any(m in s for s in results["scores"].values())]
    head = ["split", *(h for m in methods for h in (method_label(m), f"paper {method_label(m)}")),
            "random (0)", "source (1)"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(d):
        return "–" if d is None else f"{d['mean']:.2f} ± {d['ci95']:.2f}"

    def ref(method, split):
        v = paper.get(method, {}).get(split)
        return "–" if v is None else f"{v:g}"

    for split, s in results["scores"].items():
        rows.append("| " + " | ".join([
            split, *(c for m in methods for c in (cell(s.get(m)), ref(m, split))),
            f"{s['random_return']:.3f}", f"{s['source_return']:.3f}"]) + " |")
    return "\n".join(rows) + "\n"


PAPER_RL2_STEPS = 1_000_000_000  # the paper's RL² meta-training budget (env steps)


def rl2_line(rl2: dict) -> str:
    """One sentence on RL²'s network and meta-training budget (results["rl2"]: its config and
    env steps) beside the paper's."""
    c = rl2["config"]
    network = (f"a transformer of {c['tf_layers']} x {c['tf_width']}, {c['tf_heads']} heads"
               if c.get("network") == "transformer"
               else f"an LSTM of {' x '.join(map(str, c['hidden']))}")
    algo = c.get("algo", "a2c").upper()  # written only when not the default (rl2.LATER_FIELDS)
    return (f"RL²: {network}, meta-trained with {algo} on the training tasks for "
            f"{rl2['env_steps']:,} env steps per training seed ({c['num_updates']:,} updates of "
            f"{c['num_trials']} parallel trials); the paper's RL² had {PAPER_RL2_STEPS:,}, "
            f"{PAPER_RL2_STEPS / rl2['env_steps']:.0f}x more.")


__all__ = ["paper_method", "paper_value", "results_table", "rl2_line", "scores_table"]


def source_steps_table(results: dict) -> str:
    """Markdown table of results["source_curves"]: the source from scratch at the env steps AD
    has consumed by the paper's checkpoint episodes (episode e: e * L steps; the paper's source
    curve sits beside the 1-actor row, as its source ran as AD does, one stream), the steps it
    consumed in all, and the steps it needs to reach AD's last-10% return."""
    L = int(results.get("episode_len", 1))
    env = results["env"]
    head = ["source from scratch", "seeds × tasks"] + [
        f"at {e * L:,} steps (AD ep {e})" for e in checkpoints(env)] + [
        "steps consumed", "steps to reach AD's last 10%"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    name = results.get("source_name", "source")
    for label, d in results["source_curves"].items():
        steps = np.asarray(d["steps"])
        runs = np.asarray(d["per_seed"], np.float64)
        cells = []
        for e in checkpoints(env):
            b = step_bin(steps, e * L)
            cells.append("–" if b is None else _cell(runs, b))
        summ = results.get("summary", {}).get(f"source {label} {d['split']}", {})
        reach = summ.get("steps_to_ad_last_10pct")
        rows.append("| " + " | ".join([
            f"{name}, {label}", f"{runs.shape[0]} × {d['num_tasks']}", *cells,
            f"{d['steps_consumed']:,}",
            "not reached" if reach is None and "ad_last_10pct" in summ
            else (f"{reach:,}" if reach is not None else "–")]) + " |")
        paper = paper_curves(results).get("source", {})
        if (d["num_actors"] == 1 and paper and d["split"] == "test"
                and paper_method(results, "source")):
            label = PAPER_SOURCE_LABEL[PAPER_SOURCE.get(env, "A2C")]
            rows.append("| " + " | ".join(
                [label, "–", *[f"{paper[e]:g}" if e in paper else "–" for e in checkpoints(env)],
                 "", ""]) + " |")
    return "\n".join(rows) + "\n"
