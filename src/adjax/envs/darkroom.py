"""Dark Room and Dark Room Hard (Laskin et al. 2023, "In-context RL with Algorithm Distillation")"""


import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from adjax.envs.common import GridEnv, check_grid_task, check_int, grid_move


@struct.dataclass
class DarkRoomState(environment.EnvState):
    """time int32 (steps into the episode), pos int32[2] (x, y), goal_reached bool (Hard only)."""

    pos: jax.Array
    goal_reached: jax.Array


@struct.dataclass
class DarkRoomParams(environment.EnvParams):
    """task int32[2]: the goal cell (x, y); size and episode length are static."""

    max_steps_in_episode: int = struct.field(pytree_node=False, default=20)
    task: jax.Array = struct.field(default_factory=lambda: jnp.zeros(2, jnp.int32))
    size: int = struct.field(pytree_node=False, default=9)


class DarkRoom(GridEnv):
    """size x size grid, start at the centre, invisible goal; the observation is (x, y).

    Reward 1 on every step whose resulting position is the goal; with `hard=True` only the first
    such step of the episode pays. Episodes last `episode_len` steps (`truncated` on the last, then
    auto-reset to the centre); `terminated` is always False. Actions: 0 no-op, 1 up (y-1),
    2 right (x+1), 3 down (y+1), 4 left (x-1); a move into a wall stays put, and any other action
    value acts as a no-op (use `adjax.envs.checked_step` to make it an error).
    `step` draws no random numbers: the key is ignored.
    """

    num_actions = 5
    static_param_fields = ("size",)

    def __init__(self, size: int = 9, episode_len: int = 20, hard: bool = False):
        what = "darkroom-hard" if hard else "darkroom"
        self.size = check_int(size, "size", 2, what)
        self.episode_len = check_int(episode_len, "episode_len", 1, what)
        self.hard = bool(hard)

    def config(self) -> dict:
        return {"size": self.size, "episode_len": self.episode_len, "hard": self.hard}

    @property
    def name(self) -> str:
        return "darkroom-hard" if self.hard else "darkroom"

    @property
    def default_params(self) -> DarkRoomParams:
        return DarkRoomParams(max_steps_in_episode=self.episode_len,
                              task=jnp.zeros(2, jnp.int32), size=self.size)

    def with_task(self, params: DarkRoomParams, task) -> DarkRoomParams:
        """params with goal `task` (x, y), int[2]; shape always, range when concrete, checked."""
        params = self.resolve_params(params)
        return params.replace(task=check_grid_task(task, (2,), self.size, self.name))

    @property
    def start(self) -> jax.Array:
        return jnp.full((2,), self.size // 2, jnp.int32)

    def _initial(self, key=None) -> DarkRoomState:
        """Always the centre: Dark Room draws no random numbers."""
        return DarkRoomState(time=jnp.int32(0), pos=self.start, goal_reached=jnp.bool_(False))

    def _transition(self, state: DarkRoomState, action, params: DarkRoomParams):
        """-> (state after the move, before any reset; reward float32)."""
        pos = grid_move(state.pos, action, self.size)
        at_goal = jnp.all(pos == params.task)
        if self.hard:
            reward = at_goal & ~state.goal_reached
            reached = state.goal_reached | at_goal
        else:
            reward, reached = at_goal, state.goal_reached
        new = DarkRoomState(time=state.time + 1, pos=pos, goal_reached=reached)
        return new, reward.astype(jnp.float32)

    def state_space(self, params=None) -> spaces.Dict:
        return spaces.Dict({
            "time": spaces.Discrete(self.episode_len),
            "pos": self.observation_space(params),
            "goal_reached": spaces.Discrete(2),
        })


def optimal_return(task, size: int = 9, episode_len: int = 20, hard: bool = False) -> jax.Array:
    """Best episode return for goal `task` int[2]: walk the shortest path from the centre, then
    stay: min(L, L + 1 - d) paying steps for d = manhattan(centre, goal) (Hard: 1 if d <= L)."""
    d = jnp.sum(jnp.abs(jnp.asarray(task, jnp.int32) - size // 2))
    if hard:
        return (d <= episode_len).astype(jnp.float32)
    return jnp.clip(episode_len + 1 - d, 0, episode_len).astype(jnp.float32)
