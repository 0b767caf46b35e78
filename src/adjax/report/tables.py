"""Markdown tables of in-context returns next to the paper's numbers."""

import numpy as np

from adjax.report.paper import PAPER_CURVES, PAPER_SCORES, paper_value
from adjax.report.stats import mean_ci

CHECKPOINTS = (1, 200, 400, 1000)  # episodes the paper reports


def _cell(per_seed: np.ndarray, episodes: slice | int) -> str:
    x = per_seed[:, episodes]
    x = x.mean(axis=1) if x.ndim == 2 else x
    mean, half = mean_ci(x)
    return f"{float(mean):.2f} ± {float(half):.2f}"


def results_table(results: dict) -> str:
    """Markdown table: every split × method, returns at the paper's checkpoints and the last 10%.

    `results` follows the experiment results schema: results["env"], and
    results["curves"][split][method]["per_seed"] = float[seeds, episodes] (each seed averaged over
    the split's tasks). Cells are mean ± 95% t-interval half-width over seeds; paper numbers are
    held-out.
    """
    env = results["env"]
    splits = results["curves"]
    lengths = {np.asarray(m["per_seed"]).shape[1]
               for s in splits.values() for m in s.values() if isinstance(m, dict)}
    num_eps = max(lengths)
    cps = [e for e in CHECKPOINTS if e <= num_eps]
    if num_eps not in cps:
        cps.append(num_eps)
    last_head = (f"last 10% (ep {num_eps - max(1, num_eps // 10) + 1}-{num_eps})"
                 if len(lengths) == 1 else "last 10% of the row's episodes")
    head = ["split", "method", "seeds × tasks"] + [f"ep {e}" for e in cps] + [
        last_head, "paper (held-out)"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for split, methods in splits.items():
        for method, m in methods.items():
            if not isinstance(m, dict):
                continue
            per_seed = np.asarray(m["per_seed"], dtype=np.float64)
            n = per_seed.shape[1]
            cells = [_cell(per_seed, e - 1) if e <= n else "–" for e in cps]
            last = _cell(per_seed, slice(n - max(1, n // 10), n))
            # the paper reports held-out tasks only
            paper = PAPER_CURVES.get(env, {}).get(method, {}) if split == "test" else {}
            ptxt = " → ".join(f"{v:g} @{e}" for e, v in paper.items()) if paper else "–"
            size = f"{per_seed.shape[0]} × {m.get('num_tasks', '?')}"
            rows.append("| " + " | ".join([split, method, size, *cells, last, ptxt]) + " |")
        if "optimal" in methods:
            rows.append(f"| {split} | optimal | | " + " | ".join(
                [f"{methods['optimal']:.2f}"] * len(cps)) + f" | {methods['optimal']:.2f} | |")
    return "\n".join(rows) + "\n"


def scores_table(results: dict) -> str:
    """Markdown table of normalised scores (results["scores"]): one row per split, AD and ED as
    mean ± 95% t-interval over seeds, the paper's values beside them, and the raw mean rewards of
    random and the source that define 0 and 1."""
    paper = PAPER_SCORES.get(results["env"], {})
    head = ["split", "AD", "paper AD", "ED", "paper ED", "random (0)", "source (1)"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def cell(d):
        return "–" if d is None else f"{d['mean']:.2f} ± {d['ci95']:.2f}"

    def ref(method, split):
        v = paper.get(method, {}).get(split)
        return "–" if v is None else f"{v:g}"

    for split, s in results["scores"].items():
        rows.append("| " + " | ".join([
            split, cell(s.get("AD")), ref("AD", split), cell(s.get("ED")), ref("ED", split),
            f"{s['random_return']:.3f}", f"{s['source_return']:.3f}"]) + " |")
    return "\n".join(rows) + "\n"


__all__ = ["results_table", "paper_value", "scores_table"]
