"""Trajectory pictures (adjax.report.trajectories): positions follow the env, the figure has its
panels, the GIF its frames, and a run directory that cannot give them is named with the reason.
The end-to-end path through a trained tiny run is tested with the experiments
(tests/experiments/test_experiments.py)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from PIL import Image

from adjax import envs
from adjax.evaluate import episode_returns_by_done, in_context, in_context_trace
from adjax.evaluate.baselines import UniformAgent, env_spec
from adjax.model import ModelConfig
from adjax.report import trajectories as tj
from adjax.report.pictures import PictureError


@pytest.fixture(scope="module", params=["darkroom", "key-to-door"])
def recorded(request):
    name = request.param
    env, params = envs.make(name)
    agent = UniformAgent(env_spec(env, params, context_len=env.episode_len))
    return name, env, tj.record_paths(agent, name, task_id=1, seed=3, num_episodes=3)


def test_positions_follow_the_env(recorded):
    """Replaying the recorded actions through the env's own step from each episode's start gives
    the recorded cells (the last one from the env's final_observation) and rewards."""
    name, env, paths = recorded
    tasks, _ = envs.tasks_for(name, "test", None)
    np.testing.assert_array_equal(paths.task, tasks[1])
    params = env.with_task(env.default_params, paths.task)
    L = env.episode_len
    assert paths.positions.shape == (3, L + 1, 2) and paths.actions.shape == (3, L)
    for e in range(3):
        state = env._initial(jax.random.key(0)).replace(pos=jnp.asarray(paths.positions[e, 0]))
        for t in range(L):
            assert paths.positions[e, t].tolist() == np.asarray(state.pos).tolist(), (e, t)
            _, state, r, _, trunc, info = env.step(jax.random.key(t), state,
                                                   int(paths.actions[e, t]), params)
            assert float(r) == paths.rewards[e, t]
        assert bool(trunc)
        assert paths.positions[e, L].tolist() == np.asarray(info["final_observation"]).tolist()
    moved = np.abs(np.diff(paths.positions, axis=1)).sum(-1)
    assert moved.max() == 1 and moved.sum() > 0  # one cell per step at most, and it moves
    if name == "darkroom":
        assert np.all(paths.positions[:, 0] == env.size // 2)  # every episode starts central
        assert paths.optimal == float(envs.optimal_return(name, paths.task))
    else:
        assert paths.optimal is None


def test_trace_is_the_rollout_in_context_runs():
    env, params = envs.make("darkroom")
    agent = UniformAgent(env_spec(env, params, context_len=20))
    key, p = jax.random.key(5), env.with_task(params, jnp.array([4, 2]))
    trace = in_context_trace(key, agent, env, p, 3)
    np.testing.assert_array_equal(episode_returns_by_done(trace.rewards, trace.done, 3),
                                  in_context(key, agent, env, p, 3))


def _fake(num_episodes=60, L=6, size=5):
    """Paths that walk right from (0, 2) and, from episode 10 on, stop on the goal (3, 2)."""
    x = np.minimum(np.arange(L + 1), 3)
    pos = np.stack([x, np.full(L + 1, 2)], -1)[None].repeat(num_episodes, 0)
    pos[:9] = np.stack([np.arange(L + 1) % size, np.full(L + 1, 4)], -1)  # wander the bottom row
    rew = np.all(pos[:, 1:] == [3, 2], -1).astype(float)
    act = np.where(np.diff(pos[..., 0], axis=1) != 0, 2, 0)
    return tj.Paths("darkroom", size, np.array([3, 2]), 0, 0, pos, act, rew, optimal=float(L - 2))


@pytest.mark.parametrize("marker", [False, True])
def test_stream_inputs_are_what_the_model_read(marker):
    """Step t reads o_t, a_{t-1}, r_{t-1}; the stream's first step reads "none" and 0, and with
    `episode_marker` so does every episode's first step (as the evaluation loop feeds them)."""
    paths, L = _fake(num_episodes=3), 6
    cfg = ModelConfig(obs_dims=(5, 5), num_actions=5, context_len=2 * L, episode_marker=marker)
    x = tj.stream_inputs(paths, cfg)
    a, r = paths.actions.reshape(-1), paths.rewards.reshape(-1)
    np.testing.assert_array_equal(x.obs, paths.positions[:, :-1].reshape(-1, 2))
    starts = np.arange(3 * L) % L == 0 if marker else np.arange(3 * L) == 0
    np.testing.assert_array_equal(x.prev_action, np.where(starts, 5, np.roll(a, 1)))
    np.testing.assert_array_equal(x.prev_reward, np.where(starts, 0.0, np.roll(r, 1)))
    assert (not marker) == bool(np.any(np.asarray(x.prev_action)[L::L] != 5))


def test_paths_figure_has_a_panel_per_shown_episode(tmp_path):
    paths = _fake()
    fig = tj.paths_figure(paths)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    shown = (1, 2, 5, 10, 50, 60)
    assert titles == [f"episode {e}: return {paths.returns[e - 1]:g}" for e in shown]
    assert titles[0] == "episode 1: return 0" and titles[3] == "episode 10: return 4"
    out = tj.plot_paths(paths, tmp_path / "p.png")
    assert out.stat().st_size < 300_000 and Image.open(out).format == "PNG"
    assert tj.shown_episodes(200) == [1, 2, 5, 10, 50, 200]
    assert tj.shown_episodes(4) == [1, 2, 4]


def test_gif_draws_the_chosen_episodes_step_by_step(tmp_path):
    paths = _fake()
    out = tj.write_gif(paths, tmp_path / "e.gif", episodes=tj._gif_episodes([1, 2, 5, 10, 50, 60]))
    im = Image.open(out)
    assert im.format == "GIF" and im.n_frames == 4 * (6 + 1)  # episodes 1, 10, 50, 60
    assert out.stat().st_size < 1_000_000


def _experiment(tmp_path, env="darkroom", name="darkroom"):
    d = tmp_path / name
    d.mkdir()
    (d / "experiment.json").write_text(json.dumps({"name": name, "env": env, "eval": {}}))
    return d


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(PictureError, match="no such directory"):
        tj.write_trajectories(tmp_path / "missing")
    with pytest.raises(PictureError, match="not an experiment run directory"):
        tj.write_trajectories(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(PictureError, match="a training run: pass the experiment directory"):
        tj.write_trajectories(tmp_path)
    bandit = _experiment(tmp_path, "bandit", "bandit")
    with pytest.raises(PictureError,
                       match=r"grid environment .*\(darkroom, darkroom-hard, key-to-door\); this "
                             r"run's env is 'bandit'"):
        tj.write_trajectories(bandit)
    with pytest.raises(PictureError, match="no trained AD"):
        tj.write_trajectories(_experiment(tmp_path))
    with pytest.raises(SystemExit, match="error: .*no trained AD"):
        tj.main([str(tmp_path / "darkroom")])
    with pytest.raises(PictureError, match="task 16 is not in the held-out split"):
        env, params = envs.make("darkroom")
        tj.record_paths(UniformAgent(env_spec(env, params)), "darkroom", task_id=16)
