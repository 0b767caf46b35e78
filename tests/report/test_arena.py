"""Watermaze pictures (adjax.report.arena): the recorded states are the ones the agent acted in
(their renderings are its frames, bit for bit; stepping each gives the next), the returns are the
rollout's, the figure has its panels, and a run that cannot give them is named with the reason.
The end-to-end path through a trained toy run is tested with the Watermaze experiment
(tests/experiments/test_watermaze.py, slow)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax import envs
from adjax.evaluate import in_context
from adjax.evaluate.baselines import UniformAgent, env_spec
from adjax.evaluate.results import pair_key
from adjax.report import arena
from adjax.report.pictures import PictureError

ARENA = {"height": 12, "width": 16}
EPISODES = 3


@pytest.fixture(scope="module")
def recorded():
    env, params = envs.make("watermaze", **ARENA)
    agent = UniformAgent(env_spec(env, params, context_len=env.episode_len))
    run = arena.record_arena(agent, ARENA, task_id=2, seed=1, num_episodes=EPISODES)
    return env, params, agent, run


def test_states_are_the_ones_acted_in(recorded):
    env, params, _, run = recorded
    L = env.episode_len
    assert run.stored.shape == (EPISODES, L + 1, 3) and run.frames.shape == (EPISODES, L, 12, 16, 3)
    np.testing.assert_array_equal(run.task, envs.tasks_for("watermaze", "test", None)[0][2])
    rendered = jax.vmap(jax.vmap(env.render_stored))(jnp.asarray(run.stored[:, :L]))
    np.testing.assert_array_equal(np.asarray(rendered), run.frames)  # the agent's frames
    p = env.with_task(params, run.task)
    for e in range(EPISODES):
        assert run.stored[e, 0, :2].tolist() == [0.0, 0.0]  # every episode starts at the centre
        found = False
        for t in range(L):
            x, y, h = run.stored[e, t]
            state = envs.WatermazeState(time=jnp.int32(t), pos=jnp.array([x, y]),
                                        heading=jnp.float32(h), found=jnp.bool_(found))
            _, _, r, _, _, info = env.step(jax.random.key(0), state, int(run.actions[e, t]), p)
            assert float(r) == run.rewards[e, t], (e, t)
            np.testing.assert_array_equal(np.asarray(env.stored_obs(info["final_state"])),
                                          run.stored[e, t + 1])
            found = bool(info["final_state"].found)


def test_returns_are_the_evaluations(recorded):
    env, params, agent, run = recorded
    p = env.with_task(params, run.task)
    np.testing.assert_array_equal(run.returns,
                                  in_context(pair_key("agent", 2, 1, 0), agent, env, p, EPISODES))


def test_figure_has_a_row_per_shown_episode(recorded, tmp_path):
    *_, run = recorded
    assert arena.shown_episodes(3) == [1, 3] and arena.shown_episodes(160) == [1, 10, 160]
    fig = arena.arena_figure(run)
    strips = sum(len(arena.strip_steps(run, e)) for e in arena.shown_episodes(EPISODES))
    assert len(fig.axes) == len(arena.shown_episodes(EPISODES)) + strips + 1
    path = arena.save_figure(fig, tmp_path / "a.png")
    assert path.stat().st_size > 10_000


def test_strip_ends_where_the_platform_was_reached(recorded):
    *_, run = recorded
    rewards = np.zeros_like(run.rewards)
    rewards[0, 17] = 1.0
    hit = arena.ArenaRun(run.task, 0, 0, run.stored, run.actions, rewards, run.frames)
    steps = arena.strip_steps(hit, 1)
    assert steps[0] == 0 and steps[-1] == 17 and len(steps) == arena.STRIP
    assert arena.strip_steps(hit, 2)[-1] == run.actions.shape[1] - 1  # not found: to the end


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(PictureError, match="not in the held-out split"):
        arena.record_arena(None, ARENA, task_id=100)
    with pytest.raises(SystemExit, match="no such directory"):
        arena.main([str(tmp_path / "missing")])
    (tmp_path / "experiment.json").write_text('{"name": "darkroom", "env": "darkroom"}')
    with pytest.raises(SystemExit, match="arena pictures are for Watermaze"):
        arena.main([str(tmp_path)])
