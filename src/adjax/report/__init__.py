"""Figures and tables from saved results JSON: numpy + matplotlib only, no JAX."""

from adjax.report.figures import plot_curves, plot_scores
from adjax.report.tables import results_table, scores_table
from adjax.stats import mean_ci

__all__ = ["mean_ci", "plot_curves", "plot_scores", "results_table", "scores_table"]
