"""The Watermaze experiment at toy size (12x16 pixels): a state dataset, AD and ED on rendered
frames, evaluation in the run's own arena, the source from scratch; tables at the paper's
Watermaze episodes. Slow (about 2 min on 2 cores: the image models compile)."""

import json

import numpy as np
import pytest

from adjax.data import load
from adjax.experiments import watermaze
from adjax.experiments.runner import run_experiment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    out = tmp_path_factory.mktemp("watermaze")
    return out, run_experiment(watermaze.tiny(), out, preset="tiny", progress=False)


def test_data_store_state_and_runs_read_frames(toy):
    out, results = toy
    ds = load(out / "data" / "learning")
    assert ds.stores_state and ds.env_kwargs == {"height": 12, "width": 16}
    assert ds.manifest["source"] == "a2c" and ds.num_histories == 4 * 2  # platforms x actors
    config = json.loads((out / "runs" / "ad" / "seed0" / "config.json").read_text())
    assert config["model"]["obs_encoder"] == "image"
    assert config["model"]["obs_dims"] == [12, 16, 3]


def test_every_split_evaluated_in_the_runs_arena(toy):
    out, results = toy
    assert set(results["curves"]) == {"test", "val", "train"}
    for split in ("test", "val", "train"):
        e = json.loads((out / "eval" / split / "seed0.json").read_text())
        assert e["env_kwargs"] == {"height": 12, "width": 16}
        returns = np.asarray(e["splits"][split]["curves"]["agent"]["returns"])
        assert returns.shape[-1] == 3 and set(np.unique(returns)) <= {0.0, 1.0}
    assert list(results["source_curves"]) == ["1 actor"]


def test_summary_uses_the_papers_watermaze_episodes_and_no_grid_pictures(toy):
    out, _ = toy
    summary = (out / "summary.md").read_text()
    assert "| ep 1 | ep 3 |" in summary and "ep 200" not in summary
    assert "DQN, paper" not in summary  # our source is A2C on the state: no paper row beside it
    assert not list((out / "figures").glob("*_paths.png"))
