"""Figures and tables from saved results JSON: numpy + matplotlib only, no JAX."""

from adjax.report.figures import plot_curves, plot_scores, plot_source_steps
from adjax.report.tables import results_table, scores_table, source_steps_table
from adjax.stats import mean_ci

__all__ = ["mean_ci", "plot_curves", "plot_scores", "plot_source_steps", "results_table",
           "scores_table", "source_steps_table"]
