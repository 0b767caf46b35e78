"""Watermaze, a pure-JAX first-person counterpart of DMLab's rooms_watermaze (Laskin et al. 2023)"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from adjax.envs.common import ConfiguredEnv, check_int, concrete

TWO_PI = np.float32(2 * np.pi)
TURN = np.float32(np.pi / 8)
STEP_LEN = np.float32(0.1)
MAX_RADIUS = np.float32(0.9)  # positions beyond it are scaled back onto it
PLATFORM_RADIUS = np.float32(0.15)
# A tabular source's position square (`Watermaze.source_cell`): 0.2, twice a move, chosen with
# experiments/watermaze/qlearning_probe.py on training platforms (0.1 learnt far slower).
SOURCE_CELL = np.float32(0.2)
HEADING_BINS = 16  # a tabular source's heading sectors: one per turn of pi/8
TASK_RADIUS = 0.7  # platform centres lie within it
# Per action 0..7 (forward, backward, strafe left, strafe right, turn left, turn right,
# turn left then forward, turn right then forward): turn sign, then move along heading (forward
# sign) and along heading + pi/2 (left sign). Signs, not angles, so that a move is exactly
# 0.1 * (cos, sin) of the heading: no rounding of theta + pi/2.
TURN_SIGN = np.array([0, 0, 0, 0, 1, -1, 1, -1], np.float32)
FORWARD_SIGN = np.array([1, -1, 0, 0, 0, 0, 1, 1], np.float32)
LEFT_SIGN = np.array([0, 0, 1, -1, 0, 0, 0, 0], np.float32)
# Wall colours by sector k = floor(phi / (pi/4)) of the hit point's angle, as 0x00BBGGRR words.
SECTOR_RGB = np.array([(255, 0, 0), (255, 160, 0), (255, 255, 0), (0, 200, 0), (0, 200, 200),
                       (0, 0, 255), (160, 0, 255), (255, 0, 200)], np.uint8)
SECTOR_WORD = (SECTOR_RGB.astype(np.uint32) << np.array([0, 8, 16], np.uint32)).sum(1, np.uint32)
SKY, FLOOR = 200, 60  # grey levels above and below the wall band


def wrap_angle(theta: jax.Array) -> jax.Array:
    """theta mod 2*pi in [0, 2*pi) (float32: mod can round up onto 2*pi itself, which becomes 0)."""
    m = jnp.mod(theta, TWO_PI)
    return jnp.where(m >= TWO_PI, m - TWO_PI, m)


def wall_columns(pos_2: jax.Array, heading: jax.Array, height: int, width: int):
    """Per image column: (sector int32[W] in 0..7, band half-height int32[W] in 0..H).

    Column j's ray has camera-frame direction (1, t_j), t_j = 1 - (2j + 1)/W (tan of its angle
    off the heading), i.e. world direction d_j = R(heading) (1, t_j). Its hit with the unit
    circle is at s_j * d_j, and s_j is also the perpendicular (forward) distance, since d_j's
    forward component is 1. The sector of the hit point h comes from comparisons of h's
    coordinates with the lines y = 0, x = 0, y = +-x (the boundaries of floor(phi / (pi/4)))
    rather than from atan2. The band covers rows whose offset from the horizon row H//2 is at
    most H / (4 s_j) (a wall reaching 0.5 above and below eye level, focal length H/2 rows).
    pos_2 must lie inside the unit circle (the env keeps it within 0.9).
    """
    assert pos_2.shape == (2,) and jnp.ndim(heading) == 0, (pos_2.shape, jnp.shape(heading))
    t_W = jnp.asarray(1 - (2 * np.arange(width) + 1) / width, jnp.float32)
    c, s = jnp.cos(heading), jnp.sin(heading)
    dx_W, dy_W = c - t_W * s, s + t_W * c
    x, y = pos_2[0], pos_2[1]
    a_W = 1 + t_W * t_W
    b_W = x * dx_W + y * dy_W
    inside = 1 - (x * x + y * y)  # > 0
    # The larger root of a s^2 + 2 b s - inside = 0 in its cancellation-free form.
    dist_W = inside / (b_W + jnp.sqrt(b_W * b_W + a_W * inside))
    hx_W, hy_W = x + dist_W * dx_W, y + dist_W * dy_W
    upper = (hy_W > 0) | ((hy_W == 0) & (hx_W > 0))  # phi in [0, pi)
    u_W, v_W = jnp.where(upper, hx_W, -hx_W), jnp.where(upper, hy_W, -hy_W)  # rotate into it
    sector = ((v_W >= u_W).astype(jnp.int32) + (u_W <= 0).astype(jnp.int32)
              + (v_W <= -u_W).astype(jnp.int32) + jnp.where(upper, 0, 4))
    half = jnp.floor(jnp.minimum(height / (4 * dist_W), height)).astype(jnp.int32)
    return sector, half


def render(pos_2: jax.Array, heading: jax.Array, height: int, width: int) -> jax.Array:
    """First-person view uint8[H, W, 3] from pos_2 float32[2], heading float32 (unbatched).

    Pure: the same (pos, heading) give the same bits, so frames can be re-rendered from them.
    """
    sector_W, half_W = wall_columns(pos_2, heading, height, width)
    offset_H = np.abs(np.arange(height) - height // 2)
    background_H = np.where(np.arange(height) < height // 2, SKY, FLOOR) * np.uint32(0x010101)
    wall_HxW = offset_H[:, None] <= half_W[None, :]
    # Select whole 0x00BBGGRR words per pixel, then split them into bytes: selecting bytes over a
    # trailing axis of 3 directly was 3x slower under vmap on XLA CPU. Shifts, not a bitcast,
    # so the byte order is the same on every backend.
    word_HxW = jnp.where(wall_HxW, jnp.asarray(SECTOR_WORD)[sector_W][None, :],
                         jnp.asarray(background_H, jnp.uint32)[:, None])
    return (word_HxW[:, :, None] >> np.array([[[0, 8, 16]]], np.uint32)).astype(jnp.uint8)


@struct.dataclass
class WatermazeState(environment.EnvState):
    """time int32, pos float32[2] (x, y), heading float32 in [0, 2*pi), found bool (paid)."""

    pos: jax.Array
    heading: jax.Array
    found: jax.Array


@struct.dataclass
class WatermazeParams(environment.EnvParams):
    """task float32[2]: the platform centre (x, y); image size and episode length are static."""

    max_steps_in_episode: int = struct.field(pytree_node=False, default=50)
    task: jax.Array = struct.field(default_factory=lambda: jnp.zeros(2, jnp.float32))
    height: int = struct.field(pytree_node=False, default=72)
    width: int = struct.field(pytree_node=False, default=96)


class Watermaze(ConfiguredEnv):
    """A circular arena of radius 1 seen from the first person, with an invisible platform.

    Each episode starts at (0, 0) with a uniform heading. Actions: 0 forward, 1 backward,
    2 strafe left, 3 strafe right, 4 turn left, 5 turn right, 6 turn left then forward,
    7 turn right then forward (turns +-pi/8, left positive; moves 0.1; a position beyond
    radius 0.9 is scaled back onto it; other action values act as a no-op). Reward 1 the first
    time in the episode the position after the action is within 0.15 of `params.task`.
    Episodes last `episode_len` steps (`truncated` on the last, then auto-reset); `terminated`
    is always False. The observation is `render(pos, heading, height, width)`. `step` draws
    one uniform from `key` (the next episode's heading).
    """

    num_actions = 8
    static_param_fields = ("height", "width")

    def __init__(self, height: int = 72, width: int = 96, episode_len: int = 50):
        self.height = check_int(height, "height", 1, self.name)
        self.width = check_int(width, "width", 1, self.name)
        self.episode_len = check_int(episode_len, "episode_len", 1, self.name)

    def config(self) -> dict:
        return {"height": self.height, "width": self.width, "episode_len": self.episode_len}

    @property
    def name(self) -> str:
        return "watermaze"

    @property
    def default_params(self) -> WatermazeParams:
        return WatermazeParams(max_steps_in_episode=self.episode_len,
                               task=jnp.zeros(2, jnp.float32), height=self.height,
                               width=self.width)

    def with_task(self, params: WatermazeParams, task) -> WatermazeParams:
        """params with platform centre `task` float[2]; shape always, finite and inside the arena
        (norm < 1) when concrete, checked."""
        params = self.resolve_params(params)
        arr = jnp.asarray(task)
        if arr.shape != (2,):
            raise ValueError(f"{self.name}: task must have shape (2,), got {arr.shape}")
        value = concrete(task)
        if value is not None and not (np.all(np.isfinite(value)) and np.hypot(*value) < 1):
            raise ValueError(f"{self.name}: the platform centre must lie inside the unit arena, "
                             f"got {value.tolist()}")
        return params.replace(task=arr.astype(jnp.float32))

    def _initial(self, key) -> WatermazeState:
        heading = wrap_angle(jax.random.uniform(key, (), jnp.float32, 0, TWO_PI))
        return WatermazeState(time=jnp.int32(0), pos=jnp.zeros(2, jnp.float32), heading=heading,
                              found=jnp.bool_(False))

    def _transition(self, state: WatermazeState, action, params: WatermazeParams):
        """-> (state after the action, before any reset; reward float32)."""
        pick = jnp.asarray(action, jnp.int32) == jnp.arange(self.num_actions)  # none: no-op
        turn, fwd, left = (jnp.sum(jnp.where(pick, sign, 0))
                           for sign in (TURN_SIGN, FORWARD_SIGN, LEFT_SIGN))
        heading = wrap_angle(state.heading + turn * TURN)
        c, s = jnp.cos(heading), jnp.sin(heading)
        pos = state.pos + STEP_LEN * jnp.stack([fwd * c - left * s, fwd * s + left * c])
        pos = pos * (MAX_RADIUS / jnp.maximum(jnp.sqrt(jnp.sum(pos * pos)), MAX_RADIUS))
        diff = pos - params.task
        on_platform = jnp.sqrt(jnp.sum(diff * diff)) <= PLATFORM_RADIUS
        reward = (on_platform & ~state.found).astype(jnp.float32)
        new = WatermazeState(time=state.time + 1, pos=pos, heading=heading,
                             found=state.found | on_platform)
        return new, reward

    def get_obs(self, state: WatermazeState, params=None, key=None) -> jax.Array:
        # WARN: the barrier keeps XLA from fusing the step's arithmetic into the renderer's (where
        # LLVM may contract a multiply and an add into one FMA and round differently), so a frame
        # is rendered from materialised (pos, heading) exactly as a later `render` call on the
        # stored values is: the same bits.
        pos, heading = jax.lax.optimization_barrier((state.pos, state.heading))
        return render(pos, heading, self.height, self.width)

    # What a dataset stores instead of frames (docs/conventions.md, "Datasets stored by state"):
    # the renderer's whole input, float32 (x, y, heading); `render_stored` turns it back into the
    # frame `get_obs` gives for that state, bit for bit.
    stored_obs_fields = ("x", "y", "heading")

    def stored_obs(self, state: WatermazeState) -> jax.Array:
        """float32[3] (x, y, heading): everything the frame of `state` depends on."""
        return jnp.concatenate([state.pos, state.heading[None]]).astype(jnp.float32)

    def render_stored(self, stored_3: jax.Array) -> jax.Array:
        """float32[3] from `stored_obs` -> uint8[H, W, 3], the same bits as `get_obs` (unbatched;
        vmap for more). The barrier keeps the values materialised, as `get_obs` does."""
        assert stored_3.shape == (3,), stored_3.shape
        stored_3 = jax.lax.optimization_barrier(jnp.asarray(stored_3, jnp.float32))
        return render(stored_3[:2], stored_3[2], self.height, self.width)

    def source_features(self, stored_3: jax.Array) -> jax.Array:
        """float32[3] from `stored_obs` -> float32[4] (x, y, cos heading, sin heading): what a
        state-based source learner reads instead of the frame (`adjax.sources.common.observer`;
        the heading as a point on the circle, without the jump at 2 pi)."""
        x, y, heading = stored_3[..., 0], stored_3[..., 1], stored_3[..., 2]
        return jnp.stack([x, y, jnp.cos(heading), jnp.sin(heading)], -1).astype(jnp.float32)

    # A tabular source's view of the state (`adjax.sources.common.tabular_view`): position in
    # squares of SOURCE_CELL across the disc the agent moves in, heading in sectors of one turn.
    source_cell_size = SOURCE_CELL

    @property
    def source_bins(self) -> int:
        """Squares per axis across [-MAX_RADIUS, MAX_RADIUS] (the last one clipped in)."""
        return int(np.ceil(2 * MAX_RADIUS / self.source_cell_size - 1e-6))

    @property
    def num_source_cells(self) -> int:
        return self.source_bins * self.source_bins * HEADING_BINS

    def source_cell(self, stored_3: jax.Array) -> jax.Array:
        """float32[3] from `stored_obs` -> int32 in [0, num_source_cells): the (x, y) square of
        side `source_cell_size` and the heading's sector of width pi/8 (unbatched)."""
        n = self.source_bins
        xy = jnp.clip(jnp.floor((stored_3[:2] + MAX_RADIUS) / self.source_cell_size)
                      .astype(jnp.int32), 0, n - 1)
        h = jnp.floor(stored_3[2] / TURN).astype(jnp.int32) % HEADING_BINS
        return (xy[1] * n + xy[0]) * HEADING_BINS + h

    def step_env(self, key, state, action, params):
        new, reward = self._transition(state, action, params)
        return self.get_obs(new), new, reward, jnp.bool_(False), {}

    def reset_env(self, key, params):
        state = self._initial(key)
        return self.get_obs(state), state

    def is_terminated(self, state, params):
        return jnp.bool_(False)

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key, state, action, params=None):
        """gymnax 1.x step: auto-reset at the time limit, to `_initial(key)` with `key` unsplit;
        info carries "final_observation", the frame before any reset (rendered only if used), and
        "final_state", the state it shows (what an off-policy learner stores to bootstrap)."""
        params = self.resolve_params(params)
        st, reward = self._transition(state, action, params)
        truncated = st.time >= params.max_steps_in_episode
        state = jax.tree.map(lambda r, s: jax.lax.select(truncated, r, s), self._initial(key), st)
        terminated = jnp.bool_(False)
        info = {"terminated": terminated, "truncated": truncated,
                "final_observation": self.get_obs(st), "final_state": st}
        # One render of the state kept, not a select between two renders.
        return self.get_obs(state), state, reward, terminated, truncated, info

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key, params=None):
        self.resolve_params(params)
        return self.reset_env(key, params)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0, 255, (self.height, self.width, 3), jnp.uint8)

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self.num_actions)

    def state_space(self, params=None) -> spaces.Dict:
        return spaces.Dict({
            "time": spaces.Discrete(self.episode_len),
            "pos": spaces.Box(-MAX_RADIUS, MAX_RADIUS, (2,), jnp.float32),
            "heading": spaces.Box(0, TWO_PI, (), jnp.float32),
            "found": spaces.Discrete(2),
        })


def platforms(seed: int, n: int) -> np.ndarray:
    """n platform centres float32[n, 2]: 0.7 sqrt(u) (cos 2 pi v, sin 2 pi v), uniform over the
    disc of radius 0.7, with u = rng.random(n) then v = rng.random(n), rng = default_rng(seed)."""
    rng = np.random.default_rng(seed)
    u = rng.random(n)
    v = rng.random(n)
    r, a = TASK_RADIUS * np.sqrt(u), 2 * np.pi * v
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=-1).astype(np.float32)


def task_sets() -> dict[str, np.ndarray]:
    """The fixed platform sets: train 4000 (seed 0), test 100 (seed 1), val 100 (seed 2)."""
    return {"train": platforms(0, 4000), "test": platforms(1, 100), "val": platforms(2, 100)}
