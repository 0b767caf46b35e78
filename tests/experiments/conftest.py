"""Shared experiment fixtures: the tiny Dark Room run, trained once per session."""

import dataclasses

import pytest

from adjax.experiments import darkroom
from adjax.experiments.runner import run_experiment


@pytest.fixture(scope="session")
def tiny_darkroom(tmp_path_factory):
    """(run directory, results) of the tiny Dark Room preset with two training seeds
    (test_darkroom's `tiny()`): its toy run, and the trained run the inside_ad notebook is
    tested on (test_notebook), so both share one training."""
    out = tmp_path_factory.mktemp("darkroom")
    cfg = dataclasses.replace(darkroom.tiny(), train_seeds=2)
    return out, run_experiment(cfg, out, preset="tiny", progress=False)
