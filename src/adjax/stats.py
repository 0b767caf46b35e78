"""Shared numerics of results: 95% t-intervals over seeds, the first / last 10% of a curve."""

import numpy as np
from scipy import stats


def mean_ci(x, axis: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Mean and half-width of the `level` t-interval of `x` along `axis` (half-width 0 for n = 1).

    x: one value per seed along `axis` (e.g. float[seeds, episodes], each seed already averaged
    over tasks). Returns (mean, half_width) with `axis` removed.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[axis]
    if n == 0:
        raise ValueError("mean_ci needs at least one seed")
    mean = x.mean(axis=axis)
    if n == 1:
        return mean, np.zeros_like(mean)
    sem = x.std(axis=axis, ddof=1) / np.sqrt(n)
    return mean, sem * stats.t.ppf(0.5 + level / 2, n - 1)


def tenth(num_episodes: int) -> int:
    """How many episodes "the first / last 10%" of a curve of num_episodes covers (at least 1)."""
    return max(1, num_episodes // 10)


def window_means(curves_SxE, windows: dict, decimals: int = 3) -> dict:
    """Mean and 95% interval over the seeds (rows of curves_SxE) of each window of episodes:
    windows {name: slice} -> {name: mean, f"{name}_ci95": half-width}, rounded."""
    x = np.asarray(curves_SxE, np.float64)
    out = {}
    for name, part in windows.items():
        mean, half = mean_ci(x[:, part].mean(axis=1))
        out[name] = round(float(mean), decimals)
        out[f"{name}_ci95"] = round(float(half), decimals)
    return out


def seed_curves(curve: dict) -> tuple[np.ndarray, str]:
    """The per-seed curves an interval is taken over, from a results curve entry: its training
    seeds' curves ("per_train_seed" [K][E], each averaged over evaluation seeds and tasks) when
    there are at least 2, else its evaluation seeds' ("per_seed" [S][E]). -> (float64[U, E],
    "training" | "evaluation")."""
    runs = curve.get("per_train_seed")
    if runs is not None and len(runs) >= 2:
        return np.asarray(runs, np.float64), "training"
    return np.asarray(curve["per_seed"], np.float64), "evaluation"


def normalised_score(curve: dict, lo: float, hi: float) -> dict:
    """The paper's bandit score of a results curve entry: each of its `seed_curves`' mean
    return over all episodes as (x - lo) / (hi - lo) (lo: random's return, hi: the source's),
    -> {"per_seed", "interval_over", "mean", "ci95"}."""
    runs, unit = seed_curves(curve)
    per_seed = (runs.mean(axis=1) - lo) / (hi - lo)
    mean, half = mean_ci(per_seed)
    return {"per_seed": per_seed.round(4).tolist(), "interval_over": unit,
            "mean": round(float(mean), 4), "ci95": round(float(half), 4)}


def log_bins(curves_SxE, steps_per_episode: int, num_bins: int = 60):
    """Per-episode curves on an env-step axis, averaged within log-spaced bins of episodes (a
    curve of thousands of episodes, small enough to publish and to draw on a log axis).

    curves_SxE: float[S, E], entry e complete after (e + 1) * steps_per_episode steps. -> (steps
    int[B], float64[S, B]): bin b averages episodes [edge_b, edge_{b+1}), and steps[b] is the step
    count when its last episode completes. The first bins are single episodes.
    """
    x = np.asarray(curves_SxE, np.float64)
    E = x.shape[1]
    edges = np.unique(np.round(np.geomspace(1, E, num_bins + 1)).astype(int))
    edges = np.concatenate([[0], edges]) if edges[0] != 0 else edges
    pairs = zip(edges[:-1], edges[1:], strict=True)
    out = np.stack([x[:, a:b].mean(axis=1) for a, b in pairs], axis=1)
    return edges[1:] * steps_per_episode, out


def step_bin(steps, step: int) -> int | None:
    """The bin of a `log_bins` curve that holds env step `step` (the first bin whose last episode
    completes at or after it), or None past the curve's end: the source's value "once it has
    consumed as many steps" as AD, used by every table, summary and figure that compares them."""
    b = int(np.searchsorted(np.asarray(steps), step))
    return b if b < len(steps) else None


def curve_summary(curve: dict) -> dict:
    """First / last 10% of a results curve entry: mean and 95% interval over the seeds
    `seed_curves` picks (training seeds, or evaluation seeds with one training seed), and each
    of those seeds' last-10% mean ("last_10pct_per_unit")."""
    runs, unit = seed_curves(curve)
    n = runs.shape[1]
    out = {"episodes": n, "interval_over": unit}
    for name, part in (("first_10pct", slice(0, tenth(n))), ("last_10pct", slice(n - tenth(n), n))):
        per_unit = runs[:, part].mean(axis=1)
        mean, half = mean_ci(per_unit)
        out[name], out[f"{name}_ci95"] = round(float(mean), 3), round(float(half), 3)
    out["last_10pct_per_unit"] = per_unit.round(4).tolist()
    return out
