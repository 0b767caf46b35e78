"""Collect source learning histories into dataset directories and load them back."""

from adjax.data.collect import collect
from adjax.data.dataset import Dataset, DatasetError, learning_curve, load, plot_learning_curve

__all__ = ["Dataset", "DatasetError", "collect", "learning_curve", "load", "plot_learning_curve"]
