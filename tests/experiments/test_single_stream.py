"""The single-stream experiment (Fig. 6) end to end at toy size: A2C with one actor, every 10th
episode kept, AD and ED, and the source from scratch on the env-step axis beside AD."""

import json

import numpy as np
import pytest

from adjax.data import load
from adjax.experiments import darkroom, key_to_door, single_stream
from adjax.experiments.command import cli
from adjax.experiments.runner import run_experiment


@pytest.mark.slow  # ~50 s; its pieces are tested fast in tests/evaluate/test_source_curve.py
def test_tiny_single_stream_end_to_end(tmp_path):
    cfg = single_stream.tiny()
    results = run_experiment(cfg, tmp_path, preset="tiny", progress=False)
    ds = load(tmp_path / "data" / "learning", quiet=True)
    # 20 updates of one 50-step episode, every 10th kept: 2 episodes per task's single stream
    assert ds.num_histories == cfg.num_train_tasks and ds.num_episodes == 2
    assert ds.manifest["subsample_every"] == 10
    src = results["source_curves"]["1 actor"]
    assert src["steps_consumed"] == 500 and src["num_tasks"] == 4
    assert np.asarray(src["per_seed"]).shape == (2, len(src["steps"]))
    summ = results["summary"]["source 1 actor test"]
    assert summ["ad_steps"] == 3 * 50 and summ["at_ad_steps_bin_end"] >= 150
    assert (tmp_path / "figures" / "single_stream_source_steps.png").exists()
    summary = (tmp_path / "summary.md").read_text()
    assert "A2C (synchronous A3C), 1 actor" in summary
    assert json.loads((tmp_path / "results.json").read_text())["source_curves"] == json.loads(
        json.dumps(results["source_curves"]))


def test_unknown_preset_is_refused_naming_the_known_ones():
    with pytest.raises(SystemExit, match="unknown preset 'nope'; known: quick, a3c, paper, tiny"):
        cli("darkroom", darkroom.PRESETS, ["--preset", "nope", "--out", "/nonexistent/x"])


def test_a_split_evaluates_at_most_its_own_tasks():
    from adjax.experiments.common import SplitEval
    from adjax.experiments.pipeline import _num_tasks

    # Dark Room's validation set has 8 goals: a cap of 16 meant for the training goals is 8 there
    assert _num_tasks("darkroom", SplitEval("val", num_tasks=16)) == 8
    assert _num_tasks("darkroom", SplitEval("train", num_tasks=16)) == 16
    assert _num_tasks("darkroom", SplitEval("test")) is None
    assert _num_tasks("bandit", SplitEval("odd", num_tasks=500)) == 500  # drawn, not a fixed set


def test_quick_model_and_training_are_key_to_doors():
    """The single-stream preset distils with the Key-to-Door quick preset's model and training,
    chosen there on validation pairs (episode starts marked, windows starting anywhere): only the
    source and what follows from it differ."""
    ss, k2d = single_stream.quick(), key_to_door.quick()
    assert ss.model == k2d.model and ss.model.episode_marker
    assert ss.train_ad == k2d.train_ad and ss.train_ed == k2d.train_ed


def test_key_to_door_a3c_changes_only_the_source():
    """Key-to-Door's a3c preset distils the paper's source (A2C, 100 actors, one update per
    50-step episode, every 20th episode kept: chosen on validation pairs) with the quick
    preset's model and training, and measures the source from scratch on the env-step axis with
    100 actors and with one."""
    a3c, quick = key_to_door.a3c(), key_to_door.quick()
    assert a3c.model == quick.model and a3c.train_ad == quick.train_ad == a3c.train_ed
    assert (a3c.source.NAME, a3c.source.num_actors, a3c.source.unroll) == ("a2c", 100, 50)
    assert a3c.source.num_updates % a3c.subsample_every == 0 and a3c.subsample_every == 20
    assert [sc.num_actors for sc in a3c.source_curves] == [100, 1]
    test = a3c.eval.splits[0]
    assert (test.split, test.num_seeds, test.num_episodes, test.num_tasks) == ("test", 20, 200, 100)
