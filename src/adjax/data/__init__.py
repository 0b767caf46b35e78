"""Collect source learning histories into dataset directories, write external histories in the
same format, and load them back."""

from adjax.data.collect import CollectSpec, collect
from adjax.data.dataset import Dataset, DatasetError, learning_curve, load, plot_learning_curve
from adjax.data.external import HistoryError, write_histories

__all__ = ["CollectSpec", "Dataset", "DatasetError", "HistoryError", "collect", "learning_curve",
           "load", "plot_learning_curve", "write_histories"]
