"""Dark Key-to-Door (Laskin et al. 2023, "In-context RL with Algorithm Distillation")."""


import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment, spaces

from adjax.envs.common import GridEnv, check_grid_task, check_int, grid_move

MAX_SIZE = 256  # start cells come from one 32-bit word by multiply-high: size**2 <= 2**16


@struct.dataclass
class KeyToDoorState(environment.EnvState):
    """time int32, pos int32[2] (x, y), has_key bool, door_done bool (the door has paid)."""

    pos: jax.Array
    has_key: jax.Array
    door_done: jax.Array


@struct.dataclass
class KeyToDoorParams(environment.EnvParams):
    """task int32[2, 2]: (key, door) cells as (x, y) rows, may coincide; size is static."""

    max_steps_in_episode: int = struct.field(pytree_node=False, default=50)
    task: jax.Array = struct.field(default_factory=lambda: jnp.zeros((2, 2), jnp.int32))
    size: int = struct.field(pytree_node=False, default=9)


def random_cell(key: jax.Array, size: int) -> jax.Array:
    """Uniform cell (x, y) int32[2] from ONE 32-bit word: floor(bits * size**2 / 2**32).

    The multiply-high is done in 16-bit halves so it stays exact in uint32 (bias <= size**2/2**32).
    """
    n = size * size
    bits = jax.random.bits(key, (), jnp.uint32)
    hi, lo = bits >> 16, bits & 0xFFFF
    cell = ((hi * n + ((lo * n) >> 16)) >> 16).astype(jnp.int32)
    return jnp.stack([cell % size, cell // size])


class KeyToDoor(GridEnv):
    """size x size grid with an invisible key and door; the observation is (x, y) only.

    Each episode starts on a uniformly random cell (possibly the key or the door: standing there
    pays nothing until a step ends on it). Reward 1 the first time a step ends on the key, and 1
    the first time a step ends on the door while the key was held before that step: at most 2 per
    episode; when key and door coincide the key pays on arrival and the door one step later.
    Episodes last `episode_len` steps (`truncated` on the last, then auto-reset); `terminated` is
    always False. Actions as Dark Room (0 no-op, 1 up, 2 right, 3 down, 4 left; out-of-range values
    act as a no-op). `step` draws one 32-bit word from `key` (the next episode's start cell).
    """

    num_actions = 5
    static_param_fields = ("size",)

    def __init__(self, size: int = 9, episode_len: int = 50):
        self.size = check_int(size, "size", 2, self.name)
        if self.size > MAX_SIZE:
            raise ValueError(f"{self.name}: size={size} is too large (maximum {MAX_SIZE})")
        self.episode_len = check_int(episode_len, "episode_len", 1, self.name)

    def config(self) -> dict:
        return {"size": self.size, "episode_len": self.episode_len}

    @property
    def name(self) -> str:
        return "key-to-door"

    @property
    def default_params(self) -> KeyToDoorParams:
        task = jnp.array([[0, 0], [self.size - 1, self.size - 1]], jnp.int32)
        return KeyToDoorParams(max_steps_in_episode=self.episode_len, task=task, size=self.size)

    def with_task(self, params: KeyToDoorParams, task) -> KeyToDoorParams:
        """params with `task` int[2, 2] = (key (x, y), door (x, y)), checked like Dark Room's."""
        params = self.resolve_params(params)
        return params.replace(task=check_grid_task(task, (2, 2), self.size, self.name))

    def _initial(self, key) -> KeyToDoorState:
        return KeyToDoorState(time=jnp.int32(0), pos=random_cell(key, self.size),
                              has_key=jnp.bool_(False), door_done=jnp.bool_(False))

    def _transition(self, state: KeyToDoorState, action, params: KeyToDoorParams):
        """-> (state after the move, before any reset; reward float32)."""
        pos = grid_move(state.pos, action, self.size)
        on_key = jnp.all(pos == params.task[0])
        on_door = jnp.all(pos == params.task[1])
        key_reward = on_key & ~state.has_key
        door_reward = on_door & state.has_key & ~state.door_done
        new = KeyToDoorState(time=state.time + 1, pos=pos, has_key=state.has_key | on_key,
                             door_done=state.door_done | door_reward)
        reward = key_reward.astype(jnp.float32) + door_reward.astype(jnp.float32)
        return new, reward

    def state_space(self, params=None) -> spaces.Dict:
        return spaces.Dict({
            "time": spaces.Discrete(self.episode_len),
            "pos": self.observation_space(params),
            "has_key": spaces.Discrete(2),
            "door_done": spaces.Discrete(2),
        })
