"""The Watermaze experiment at toy size (12x16 pixels): a state dataset, AD and ED on rendered
frames, evaluation in the run's own arena, the source from scratch; tables at the paper's
Watermaze episodes. Slow (about 2 min on 2 cores: the image models compile)."""

import dataclasses
import json

import numpy as np
import pytest

from adjax.data import load
from adjax.experiments import watermaze
from adjax.experiments.runner import run_experiment
from adjax.sources import qlearning

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


def test_tabular_source_end_to_end(tmp_path):
    """The `tabular` preset's pipeline at toy size: Q-learning streams on the agent's state make
    a state dataset, AD reads frames, and the held-out split gets the source-from-scratch curve
    (one independent stream per platform and seed)."""
    tab = watermaze.tabular()
    source = dataclasses.replace(tab.source, num_episodes=4, num_streams=2)
    cfg = dataclasses.replace(watermaze.tiny(), source=source, source_curves=(),
                              eval=dataclasses.replace(watermaze.tiny().eval, splits=(
                                  dataclasses.replace(watermaze.tiny().eval.splits[0],
                                                      baselines=("random", "source")),)))
    assert isinstance(tab.source, qlearning.Config) and tab.source.q_init == 0.0
    results = run_experiment(cfg, tmp_path, preset="tiny", progress=False)
    ds = load(tmp_path / "data" / "learning")
    assert ds.stores_state and ds.manifest["source"] == "qlearning"
    assert ds.num_histories == 4 * 2 and ds.obs.shape[-1] == 3
    assert {"AD", "ED", "source", "random"} <= set(results["curves"]["test"])


def test_streams_preset_is_one_learner_per_history():
    """The `streams` candidate: one actor per training platform (each history its own learner),
    quick's 3200 histories of 100 kept episodes; only the source, the task count, the
    subsampling, the context and the task batching differ from quick."""
    q, s = watermaze.quick(), watermaze.streams()
    histories = lambda c: c.num_train_tasks * c.source.num_actors  # noqa: E731
    episodes = lambda c: c.source.num_updates * c.source.unroll // 50 // c.subsample_every  # noqa: E731
    assert s.source.num_actors == 1 and histories(s) == histories(q) == 3200
    assert episodes(s) == episodes(q) == 100 and s.model.context_len == 8 * 50
    assert dataclasses.replace(s, source=q.source, num_train_tasks=200, subsample_every=1,
                               model=q.model, task_batch=None) == q


def test_subsampled_preset_keeps_quicks_history_length():
    """The `subsampled` candidate spreads the source's improvement over each history: a 5x longer
    run with every 5th episode kept, so a history keeps quick's 100 episodes; only the source,
    the subsampling and the context differ from quick."""
    q, s = watermaze.quick(), watermaze.subsampled()
    episodes = lambda c: c.source.num_updates * c.source.unroll // 50 // c.subsample_every  # noqa: E731
    assert episodes(s) == episodes(q) == 100 and s.subsample_every == 5
    assert s.source.lr == q.source.lr / 20 and s.model.context_len == 5 * 50
    assert dataclasses.replace(s, source=q.source, subsample_every=1,
                               model=q.model) == q
