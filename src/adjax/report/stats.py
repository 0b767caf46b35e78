"""Means and 95% confidence intervals over seeds (Student t), numpy + scipy only."""

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
