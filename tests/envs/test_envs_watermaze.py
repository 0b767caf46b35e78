"""Watermaze: moves, clamp, reward and resets by hand; the renderer by hand and against numpy."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax.envs import watermaze
from adjax.envs.watermaze import Watermaze, WatermazeState, wall_columns, wrap_angle
from benchmarks.bench_watermaze import numpy_columns, numpy_render, numpy_step

FWD, BACK, LEFT, RIGHT, TURN_L, TURN_R, TURN_L_FWD, TURN_R_FWD = range(8)
H, W = 12, 16  # small frames keep the tests fast; the rules do not depend on the size
T = 120  # every rollout has this length: one compilation
KEY = jax.random.key(0)
PI8 = np.pi / 8
RED, ORANGE, YELLOW, MAGENTA = (255, 0, 0), (255, 160, 0), (255, 255, 0), (255, 0, 200)
SKY, FLOOR = (200, 200, 200), (60, 60, 60)


render = jax.jit(watermaze.render, static_argnums=(2, 3))  # eager would compile op by op
render_N = jax.jit(jax.vmap(watermaze.render, (0, 0, None, None)), static_argnums=(2, 3))


@pytest.fixture(scope="module")
def env():
    return Watermaze(H, W)


def state(x, y, heading, found=False, time=0):
    return WatermazeState(time=jnp.int32(time), pos=jnp.array([x, y], jnp.float32),
                          heading=jnp.float32(heading), found=jnp.bool_(found))


@functools.partial(jax.jit, static_argnums=0)
def rollout(env, key, params, state, actions_T):
    """Step through actions_T from `state`; step t uses fold_in(key, t).
    -> dict of per-step obs, final_obs, pos, heading, time, found, reward, terminated, truncated."""

    def body(state, x):
        t, a = x
        obs, state, r, term, trunc, info = env.step(jax.random.fold_in(key, t), state, a, params)
        return state, {"obs": obs, "final_obs": info["final_observation"], "pos": state.pos,
                       "heading": state.heading, "time": state.time, "found": state.found,
                       "reward": r, "terminated": term, "truncated": trunc}

    return jax.lax.scan(body, state, (jnp.arange(T), actions_T))[1]


def walk(env, start, actions, task=(0.5, 0.5)):
    """Roll out `actions`, padded with left turns to T steps (one shape: one compilation)."""
    p = env.with_task(env.default_params, np.asarray(task, np.float32))
    actions_T = np.full(T, TURN_L, np.int32)
    actions_T[:len(actions)] = actions
    return rollout(env, KEY, p, start, jnp.asarray(actions_T))


def test_spaces_and_attributes(env):
    assert (env.name, env.episode_len, env.num_actions) == ("watermaze", 50, 8)
    assert Watermaze().config() == {"height": 72, "width": 96, "episode_len": 50}
    space = env.observation_space(env.default_params)
    assert (space.low, space.high, space.shape, space.dtype) == (0, 255, (H, W, 3), jnp.uint8)
    assert env.action_space().n == 8
    p = env.with_task(env.default_params, [0.3, -0.2])
    assert p.task.dtype == jnp.float32 and p.max_steps_in_episode == 50


def test_with_task_checks_eagerly(env):
    for bad in ([0.3], [[0.1, 0.2]], [1.0, 0.0], [0.8, 0.8], [np.nan, 0.0]):
        with pytest.raises(ValueError, match="watermaze"):
            env.with_task(env.default_params, bad)
    with pytest.raises(ValueError, match="height"):
        env.with_task(Watermaze(24, 32).default_params, [0.1, 0.1])
    stacked = jax.vmap(env.with_task, in_axes=(None, 0))(env.default_params, jnp.ones((3, 2)))
    assert stacked.task.shape == (3, 2)  # under vmap only the shape is checked


def test_reset_at_centre_with_uniform_heading(env):
    keys = jax.random.split(KEY, 4000)
    st = jax.jit(jax.vmap(env._initial))(keys)  # what reset returns
    assert np.all(np.asarray(st.pos) == 0) and not st.found.any() and not st.time.any()
    h = np.asarray(st.heading)
    assert h.min() >= 0 and h.max() < 2 * np.float32(np.pi)
    np.testing.assert_allclose(np.histogram(h, 8, (0, 2 * np.pi))[0] / 4000, 1 / 8, atol=0.02)
    obs, one = env.reset(keys[0])
    assert one.heading == st.heading[0]
    np.testing.assert_array_equal(obs, render(one.pos, one.heading, H, W))


def test_each_action_by_hand(env):
    x, y, th = 0.2, -0.1, np.pi / 3
    c, s = np.cos(th), np.sin(th)
    want = {  # action -> (x, y, heading)
        FWD: (x + 0.1 * c, y + 0.1 * s, th), BACK: (x - 0.1 * c, y - 0.1 * s, th),
        LEFT: (x - 0.1 * s, y + 0.1 * c, th), RIGHT: (x + 0.1 * s, y - 0.1 * c, th),
        TURN_L: (x, y, th + PI8), TURN_R: (x, y, th - PI8),
        TURN_L_FWD: (x + 0.1 * np.cos(th + PI8), y + 0.1 * np.sin(th + PI8), th + PI8),
        TURN_R_FWD: (x + 0.1 * np.cos(th - PI8), y + 0.1 * np.sin(th - PI8), th - PI8),
    }
    for a, (wx, wy, wh) in want.items():
        out = walk(env, state(x, y, th), [a])
        np.testing.assert_allclose(out["pos"][0], [wx, wy], atol=1e-6, err_msg=f"action {a}")
        np.testing.assert_allclose(out["heading"][0], wh, atol=1e-6, err_msg=f"action {a}")
        assert int(out["time"][0]) == 1 and float(out["reward"][0]) == 0
    for a in (TURN_L, TURN_R):  # turning leaves the position's bits alone
        np.testing.assert_array_equal(walk(env, state(x, y, th), [a])["pos"][0],
                                      np.float32([x, y]))
    for a in (8, -1, 100):  # other values: no-ops
        out = walk(env, state(x, y, th), [a])
        np.testing.assert_array_equal(out["pos"][0], np.float32([x, y]))
        assert out["heading"][0] == np.float32(th) and int(out["time"][0]) == 1
    out = walk(env, state(0, 0, 0), [FWD, FWD])  # axis-aligned moves are exact
    assert out["pos"][0].tolist() == [np.float32(0.1), 0]
    assert out["pos"][1].tolist() == [np.float32(0.1) + np.float32(0.1), 0]


def test_positions_beyond_0_9_are_scaled_onto_it(env):
    out = walk(env, state(0.85, 0, 0), [FWD, FWD, BACK])
    np.testing.assert_allclose(out["pos"][:3], [[0.9, 0], [0.9, 0], [0.8, 0]], atol=1e-6)
    out = walk(env, state(0.6, 0.6, np.pi / 4), [FWD])  # radius 0.9485 -> 0.9, same direction
    np.testing.assert_allclose(out["pos"][0], [0.9 / np.sqrt(2)] * 2, atol=1e-6)
    out = walk(env, state(0.3, 0.85, 0), [FWD])  # sideways at the edge: slides along it
    p = np.array([0.4, 0.85])
    np.testing.assert_allclose(out["pos"][0], p * 0.9 / np.linalg.norm(p), atol=1e-6)
    out = walk(env, state(0.7, 0, 0), [FWD])  # within 0.9: not scaled
    np.testing.assert_array_equal(out["pos"][0], np.float32([0.7 + np.float32(0.1), 0]))
    wander = walk(env, state(0, 0, 1.0), jax.random.randint(KEY, (T,), 0, 8))
    assert np.linalg.norm(np.asarray(wander["pos"]), axis=-1).max() <= 0.9 + 1e-6


def test_reward_only_the_first_time_within_0_15(env):
    out = walk(env, state(0, 0, 0), [FWD, FWD, FWD, FWD, BACK, BACK, BACK, FWD], task=(0.3, 0))
    # x: 0.1 (0.2 away), 0.2 (pays), 0.3, 0.4, 0.3, 0.2, 0.1 (left), 0.2 (back: no pay)
    assert out["reward"][:8].tolist() == [0, 1, 0, 0, 0, 0, 0, 0]
    assert out["found"][:8].tolist() == [False] + [True] * 7
    assert out["reward"].dtype == jnp.float32


def test_boundary_distance_exactly_0_15_pays(env):
    r = np.float32(0.15)
    for task, pays in (((r, 0), True), ((0, -r), True),
                       ((np.nextafter(r, np.float32(1)), 0), False)):
        out = walk(env, state(0, 0, 0), [TURN_L], task=task)  # a turn stays on (0, 0) exactly
        assert float(out["reward"][0]) == float(pays), task


def test_heading_wraps_into_0_2pi(env):
    two_pi = np.float32(2 * np.pi)
    out = walk(env, state(0, 0, 2 * np.pi - np.pi / 16), [TURN_L])
    np.testing.assert_allclose(out["heading"][0], np.pi / 16, atol=1e-6)
    out = walk(env, state(0, 0, 0), [TURN_R])
    np.testing.assert_allclose(out["heading"][0], 2 * np.pi - PI8, atol=1e-6)
    out = walk(env, state(0, 0, 0.3), [TURN_L] * 40 + [TURN_R_FWD] * 40)
    h = np.asarray(out["heading"])
    assert h.min() >= 0 and h.max() < two_pi
    np.testing.assert_allclose(h[15], 0.3, atol=1e-5)  # 16 left turns: a full circle
    for theta in (-1e-8, -0.0, 2 * np.pi, -2 * np.pi, 13.0):  # mod may round onto 2 pi itself
        w = float(wrap_angle(jnp.float32(theta)))
        assert 0 <= w < two_pi, theta


def test_truncation_on_step_50_and_auto_reset(env):
    # platform 0.05 from the centre: the first step of each episode ends within 0.15 of it
    # (a move of 0.1 from the centre, or a turn on it), then the flag holds for the episode
    out = walk(env, state(0, 0, 0), [FWD] + [TURN_L_FWD] * 49 + [TURN_L], task=(0.05, 0))
    assert out["truncated"].tolist() == [(t + 1) % 50 == 0 for t in range(T)]
    assert not out["terminated"].any()
    assert out["time"][48] == 49 and out["time"][49] == 0 and out["time"][50] == 1
    assert out["pos"][49].tolist() == [0, 0] and not out["found"][49]
    assert np.flatnonzero(out["reward"]).tolist() == [0, 50, 100]
    # the new episode's heading is drawn from step 49's key; obs shows the reset state, and
    # final_observation the state before the reset
    heading = out["heading"][49]
    assert heading == env.reset(jax.random.fold_in(KEY, 49))[1].heading
    np.testing.assert_array_equal(out["obs"][49], render(jnp.zeros(2), heading, H, W))
    assert not np.array_equal(out["final_obs"][49], out["obs"][49])
    np.testing.assert_array_equal(out["final_obs"][10], out["obs"][10])


def test_frames_equal_a_later_render_of_the_states(env):
    actions = jax.random.randint(jax.random.key(5), (T,), 0, 8)
    out = walk(env, state(0, 0, 1.0), actions, task=(0.1, 0.4))
    again = render_N(out["pos"], out["heading"], H, W)
    np.testing.assert_array_equal(out["obs"], again)


def test_jit_equals_no_jit(env):
    """Floats agree to rounding (XLA may fuse a multiply and an add into one FMA under jit),
    everything discrete exactly. Eager steps are slow: four, across an episode's end."""
    p = env.with_task(env.default_params, [0.2, 0.3])
    actions = jnp.asarray([TURN_R_FWD, BACK, LEFT, FWD] * (T // 4), jnp.int32)
    start = state(0.15, 0.2, 2.0, found=False, time=48)
    jitted = rollout(env, KEY, p, start, actions)
    st, rows, n = start, [], 4
    with jax.disable_jit():
        for t in range(n):
            obs, st, r, term, trunc, _ = env.step(jax.random.fold_in(KEY, t), st, actions[t], p)
            rows.append((st.pos, st.heading, st.time, st.found, r, trunc))
    pos, heading, time, found, reward, trunc = (np.stack(c) for c in zip(*rows, strict=True))
    assert reward.tolist() == [1, 0, 0, 0] and trunc.tolist() == [False, True, False, False]
    np.testing.assert_allclose(jitted["pos"][:n], pos, atol=1e-6)
    np.testing.assert_allclose(jitted["heading"][:n], heading, atol=1e-5)
    for name, want in (("time", time), ("found", found), ("reward", reward), ("truncated", trunc)):
        np.testing.assert_array_equal(jitted[name][:n], want, err_msg=name)


def test_vmap_equals_loop_and_same_key_same_bits(env):
    tasks = jnp.asarray(watermaze.task_sets()["val"][:4])
    keys = jax.random.split(jax.random.key(2), 4)
    actions = jax.random.randint(jax.random.key(3), (4, T), 0, 8)
    stacked = jax.vmap(env.with_task, in_axes=(None, 0))(env.default_params, tasks)
    starts = jax.vmap(env.reset)(keys, stacked)[1]
    run = jax.vmap(lambda k, p, s, a: rollout(env, k, p, s, a))
    batched = run(keys, stacked, starts, actions)
    jax.tree.map(np.testing.assert_array_equal, batched, run(keys, stacked, starts, actions))
    for i in range(4):
        one = rollout(env, keys[i], env.with_task(env.default_params, tasks[i]),
                      jax.tree.map(lambda x, i=i: x[i], starts), actions[i])
        jax.tree.map(lambda b, o, i=i: np.testing.assert_array_equal(b[i], o), batched, one)


def test_step_matches_numpy_rules():
    rng = np.random.default_rng(4)
    n = 4000
    r, a = 0.9 * np.sqrt(rng.random(n)), 2 * np.pi * rng.random(n)
    pos = np.stack([r * np.cos(a), r * np.sin(a)], -1).astype(np.float32)
    heading = (2 * np.pi * rng.random(n)).astype(np.float32)
    actions, tasks = rng.integers(0, 8, n), watermaze.platforms(7, n)
    found = rng.random(n) < 0.3
    env = Watermaze(H, W)

    def one(p, h, f, act, task):
        s = WatermazeState(time=jnp.int32(0), pos=p, heading=h, found=f)
        return env._transition(s, act, env.with_task(env.default_params, task))

    new, reward = jax.jit(jax.vmap(one))(pos, heading, found, actions, tasks)
    want_pos, want_h, want_found, want_r = numpy_step(pos.astype(np.float64), heading, found,
                                                      actions, tasks.astype(np.float64))
    np.testing.assert_allclose(new.pos, want_pos, atol=1e-6)
    dh = np.mod(np.asarray(new.heading, np.float64) - want_h + np.pi, 2 * np.pi) - np.pi
    assert np.abs(dh).max() < 1e-6
    np.testing.assert_array_equal(new.found, want_found)
    np.testing.assert_array_equal(reward, want_r)
    assert 0 < want_r.sum() < n  # both outcomes occur


def colour_of(img, row, col):
    return tuple(int(v) for v in img[row, col])


def test_render_at_the_centre_by_hand():
    # Facing 0: rays left of the axis hit phi in (0, pi/4) -> sector 0 (red); right of it
    # phi in (7 pi/4, 2 pi) -> sector 7. The widest ray is atan(15/16) = 0.75 < pi/4 off the axis.
    img = np.asarray(render(jnp.zeros(2), jnp.float32(0), H, W))
    assert [colour_of(img, H // 2, j) for j in range(W)] == [RED] * 8 + [MAGENTA] * 8
    # Facing pi/2: sector 2 (yellow) on the left, sector 1 (orange) on the right.
    img = np.asarray(render(jnp.zeros(2), jnp.float32(np.pi / 2), H, W))
    assert [colour_of(img, H // 2, j) for j in range(W)] == [YELLOW] * 8 + [ORANGE] * 8
    # Far from the wall the top row is sky and the bottom row floor; at the centre every ray
    # travels 1, so d_perp = cos(ray angle): band half-heights floor(3 / d_perp) = 3 or 4.
    assert all(colour_of(img, 0, j) == SKY and colour_of(img, H - 1, j) == FLOOR
               for j in range(W))
    _, half = jax.jit(wall_columns, static_argnums=(2, 3))(jnp.zeros(2), jnp.float32(0), H, W)
    d_perp = np.cos(np.arctan(1 - (2 * np.arange(W) + 1) / W))
    np.testing.assert_array_equal(half, np.floor(H / 4 / d_perp).astype(int))
    col = [colour_of(img, i, 0) for i in range(H)]
    assert col == [SKY] * 2 + [YELLOW] * 9 + [FLOOR]  # rows 2..10 = H//2 -+ 4
    # An odd width has a centre column on the heading itself: phi exactly 0 is sector 0.
    img = np.asarray(render(jnp.zeros(2), jnp.float32(0), 7, 9))
    assert colour_of(img, 3, 4) == RED and colour_of(img, 3, 5) == MAGENTA


def test_render_facing_a_near_wall_fills_the_column():
    img = np.asarray(render(jnp.array([0.85, 0.0]), jnp.float32(0), H, W))
    # d_perp = 0.15 -> half-height H / 0.6 = 20 > H: the whole centre columns are wall
    assert all(colour_of(img, i, j) in (RED, MAGENTA) for i in range(H) for j in (7, 8))


def random_states(seed, n):
    rng = np.random.default_rng(seed)
    r, a = 0.9 * np.sqrt(rng.random(n)), 2 * np.pi * rng.random(n)
    pos = np.stack([r * np.cos(a), r * np.sin(a)], -1).astype(np.float32)
    return pos, (2 * np.pi * rng.random(n)).astype(np.float32)


@pytest.mark.parametrize("height, width", [(H, W), (24, 32), (7, 9)])
def test_render_equals_numpy_reference(height, width):
    """Bit-equal frames, except columns where the float64 reference lies within 1e-5 of a
    sector boundary (a multiple of pi/4) or its half-height H/(4 d_perp) within 1e-5 (relative)
    of an integer: float32 rounding may put those either side. Few if any occur."""
    pos, heading = random_states(height, 3000)
    img = np.asarray(render_N(pos, heading, height, width))
    want = numpy_render(pos, heading, height, width)
    _, _, phi, quotient = numpy_columns(pos, heading, height, width)
    near_sector = np.abs(phi - np.round(phi / (np.pi / 4)) * (np.pi / 4)) < 1e-5
    near_band = np.abs(quotient - np.round(quotient)) < 1e-5 * quotient
    bad = (img != want).any(axis=(1, 3))  # [N, W]: columns that differ somewhere
    assert not np.any(bad & ~(near_sector | near_band))
    assert bad.sum() <= 1e-3 * bad.size


def test_render_band_shape_and_horizon_row():
    """Every column: sky, then one run of a single wall colour holding row H//2, then floor."""
    pos, heading = random_states(9, 2000)
    img = np.asarray(render_N(pos, heading, H, W))
    grey = (img[..., 0] == img[..., 1]) & (img[..., 1] == img[..., 2])
    sky, floor = grey & (img[..., 0] == 200), grey & (img[..., 0] == 60)
    wall = ~sky & ~floor
    assert wall[:, H // 2].all()
    rows = np.arange(H)[None, :, None]
    assert not (sky & (rows >= H // 2)).any() and not (floor & (rows <= H // 2)).any()
    n_wall = wall.sum(axis=1)
    top = np.argmax(wall, axis=1)
    assert np.all(H // 2 - top == n_wall // 2)  # 2n + 1 rows centred on H//2, or clipped
    assert np.all((n_wall % 2 == 1) | (n_wall == H))
    assert all(len({tuple(img[i, r, j]) for r in range(H) if wall[i, r, j]}) == 1
               for i in range(50) for j in range(W))
    colours = {tuple(c) for c in img[wall].reshape(-1, 3).tolist()}
    assert colours <= {tuple(c) for c in watermaze.SECTOR_RGB.tolist()} and len(colours) == 8


def test_task_sets_exact():
    sets = watermaze.task_sets()
    assert {k: v.shape for k, v in sets.items()} == {"train": (4000, 2), "test": (100, 2),
                                                     "val": (100, 2)}
    for seed, name in ((0, "train"), (1, "test"), (2, "val")):
        rng = np.random.default_rng(seed)
        n = len(sets[name])
        u, v = rng.random(n), rng.random(n)
        want = 0.7 * np.sqrt(u)[:, None] * np.stack([np.cos(2 * np.pi * v),
                                                      np.sin(2 * np.pi * v)], -1)
        np.testing.assert_array_equal(sets[name], want.astype(np.float32))
        assert sets[name].dtype == np.float32
    train = sets["train"]
    assert np.linalg.norm(train, axis=1).max() <= 0.7
    assert abs(np.mean(np.sum(train**2, axis=1)) - 0.49 / 2) < 0.01  # uniform over the disc
    pooled = np.concatenate(list(sets.values()))
    assert len(np.unique(pooled, axis=0)) == len(pooled)  # disjoint
