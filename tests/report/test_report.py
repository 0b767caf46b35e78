"""Report step: fixed small results JSON -> expected table, intervals by hand, a figure file."""

import numpy as np
import pytest

from adjax.report import mean_ci, plot_curves, results_table

RESULTS = {
    "env": "darkroom",
    "episode_len": 20,
    "curves": {
        "test": {
            "AD": {"per_seed": [[1.0, 5.0, 9.0, 13.0], [3.0, 7.0, 11.0, 15.0]], "num_tasks": 16},
            "ED": {"per_seed": [[2.0, 2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0]], "num_tasks": 16},
            "optimal": 16.5,
        }
    },
}


def test_mean_ci_by_hand():
    mean, half = mean_ci(np.array([1.0, 3.0]))
    # sd = sqrt(2), sem = 1, t(0.975, 1) = 12.7062
    assert mean == pytest.approx(2.0)
    assert half == pytest.approx(12.7062, rel=1e-4)
    mean, half = mean_ci(np.array([[5.0, 7.0]]))
    assert half.tolist() == [0.0, 0.0] and mean.tolist() == [5.0, 7.0]
    with pytest.raises(ValueError, match="at least one seed"):
        mean_ci(np.zeros((0, 3)))


def test_table_is_exactly_as_expected():
    table = results_table(RESULTS)
    expected = (
        "| split | method | seeds × tasks | ep 1 | ep 4 | last 10% (ep 4-4) | paper (held-out) |\n"
        "|---|---|---|---|---|---|---|\n"
        "| test | AD | 2 × 16 | 2.00 ± 12.71 | 14.00 ± 12.71 | 14.00 ± 12.71 | "
        "1.3 @1 → 9.6 @200 → 12.9 @400 → 14.1 @1000 |\n"
        "| test | ED | 2 × 16 | 2.00 ± 0.00 | 2.00 ± 0.00 | 2.00 ± 0.00 | 2 @1 → 0.75 @1000 |\n"
        "| test | optimal | | 16.50 | 16.50 | 16.50 | |\n"
    )
    assert table == expected


def test_figure_written(tmp_path):
    path = plot_curves(RESULTS, tmp_path / "fig" / "darkroom.png", title="t")
    assert path.exists() and path.read_bytes()[:4] == b"\x89PNG"
    assert not list(tmp_path.rglob("*.tmp.png"))
