"""The source on the env-step axis: A2C from scratch counted over all its actors (Fig. 4 / 6)."""

import dataclasses
import json

import jax
import numpy as np
import pytest

from adjax import envs
from adjax.atomic import read_json
from adjax.evaluate import evaluate_source_curve, source_step_curve
from adjax.experiments import reproduce
from adjax.experiments.runner import _source_summary
from adjax.report import plot_source_steps, source_steps_table
from adjax.report.reproduction import _source_rows
from adjax.sources import a2c, qlearning
from adjax.stats import log_bins, step_bin, window_means

TINY = a2c.Config(num_actors=2, num_updates=1, unroll=10, hidden=(8,), lr=1e-2)


@pytest.fixture(scope="module")
def darkroom():
    return envs.make("darkroom")


def test_step_curve_is_the_mean_over_actors_of_each_episode(darkroom):
    env, params = darkroom
    params = env.with_task(params, envs.sample_tasks("darkroom", jax.random.key(0), 1)[0])
    key = jax.random.key(3)
    # 100 steps over 2 actors of 20-step episodes: 3 episodes each (120 steps consumed)
    curve = np.asarray(source_step_curve(key, TINY, env, params, num_steps=100, num_actors=2))
    assert curve.shape == (3,)
    # the same learners run by hand: 3 episodes x 20 steps / unroll 10 = 6 updates
    _, hist = a2c.make_train(dataclasses.replace(TINY, num_updates=6), env)(key, params)
    per_episode = np.asarray(hist.rewards).reshape(2, 3, 20).sum(-1)  # [actors, episodes]
    np.testing.assert_allclose(curve, per_episode.mean(0), rtol=1e-6)


def test_step_curve_needs_a_shared_learner(darkroom):
    env, params = darkroom
    with pytest.raises(ValueError, match="num_actors"):
        source_step_curve(jax.random.key(0), qlearning.Config(), env, params, 100, 1)


def test_log_bins_average_episodes_and_count_steps():
    x = np.arange(20.0)[None].repeat(2, 0)
    steps, binned = log_bins(x, steps_per_episode=20, num_bins=8)
    assert steps[0] == 20 and steps[-1] == 400  # episode 1 alone; the last bin ends at episode 20
    assert np.all(np.diff(steps) > 0)
    assert binned[0, 0] == 0.0 and binned.shape == (2, steps.size)
    assert np.isclose(binned[0, -1], x[0, steps[-2] // 20:].mean())
    # the bin holding a step: the first that ends at or after it; None past the end
    assert [step_bin(steps, s) for s in (1, 20, 21, 400)] == [0, 0, 1, steps.size - 1]
    assert step_bin(steps, 401) is None


def test_evaluate_source_curve_json_summary_table_and_figure(tmp_path):
    out = tmp_path / "src.json"
    r = evaluate_source_curve(TINY, "darkroom", out, num_actors=2, num_steps=200, num_seeds=2,
                              num_tasks=3, num_bins=4, progress=False)
    assert read_json(out) == json.loads(json.dumps(r))  # its checksum holds
    assert r["steps_consumed"] == 200 and r["num_tasks"] == 3
    assert np.asarray(r["per_seed"]).shape == (2, len(r["steps"]))
    # AD's curve: 10 episodes, far above the source from its start
    ad = {"per_seed": [[5.0] * 10] * 2, "per_train_seed": [[5.0] * 10] * 2, "num_tasks": 3}
    summ = _source_summary(r, {"AD": ad}, episode_len=20)
    assert summ["ad_steps"] == 200 and summ["ad_last_10pct"] == 5.0
    assert summ["steps_to_ad_last_10pct"] is None  # 5 is out of a 200-step learner's reach
    assert summ["ad_above_from_episode_20"]
    results = {"env": "darkroom", "episode_len": 20, "source_name": "A2C (synchronous A3C)",
               "curves": {"test": {"AD": ad}},
               "source_curves": {"2 actors": r}, "summary": {"source 2 actors test": summ}}
    table = source_steps_table(results)
    assert "A2C (synchronous A3C), 2 actors" in table and "not reached" in table
    assert plot_source_steps(results, tmp_path / "f.png").stat().st_size > 0
    rows = _source_rows("a3c/darkroom", results)
    assert rows[0][3] == "return at 20 env steps (AD episode 1)"
    assert rows[-1][3].startswith("env steps to reach AD's last 10% (5.00)")
    assert rows[-1][4] == "not reached"


def test_reproduce_runs_the_a3c_presets_beside_quick():
    jobs = reproduce.jobs(reproduce.Args(only=("bandit", "darkroom")))
    assert [(n, p, str(d)) for n, p, d in jobs] == [
        ("bandit", "quick", "bandit"), ("darkroom", "quick", "darkroom"),
        ("darkroom", "a3c", "a3c/darkroom")]
    assert len(reproduce.jobs(reproduce.Args(only=("darkroom",), beside=False))) == 1
    assert [(p, str(d)) for _, p, d in reproduce.jobs(reproduce.Args(only=("key_to_door",)))] \
        == [("quick", "key_to_door"), ("a3c", "a3c/key_to_door")]
    assert [p for _, p, _ in reproduce.jobs(reproduce.Args(preset="tiny"))] == ["tiny"] * 6


def test_window_means_are_means_over_seeds_of_each_window():
    x = np.array([[0.0, 1.0, 2.0, 3.0], [2.0, 3.0, 4.0, 5.0]])  # two seeds, four episodes
    got = window_means(x, {"all": slice(None), "last": slice(2, 4)})
    assert got["all"] == 2.5 and got["last"] == 3.5
    # two seeds whose window means are 2.5 and 4.5: t(0.975, 1) x std / sqrt(2) = 12.706
    assert got["last_ci95"] == pytest.approx(12.706, abs=1e-3)
    assert window_means(x[:1], {"all": slice(None)}) == {"all": 1.5, "all_ci95": 0.0}
