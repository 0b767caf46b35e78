"""Small environments for source and data tests: adjax.envs when present, else local stand-ins."""

import jax
import jax.numpy as jnp
import pytest
from flax import struct
from gymnax.environments import environment, spaces

MOVES = jnp.array([[0, 0], [0, -1], [1, 0], [0, 1], [-1, 0]], jnp.int32)


@struct.dataclass
class GridState(environment.EnvState):
    pos: jax.Array
    time: int


@struct.dataclass
class GridParams(environment.EnvParams):
    task: jax.Array = struct.field(default_factory=lambda: jnp.zeros(2, jnp.int32))
    max_steps_in_episode: int = struct.field(pytree_node=False, default=20)


class StandInDarkRoom(environment.Environment):
    """Dark Room rules of CONVENTIONS.md with a size override (stand-in until adjax.envs lands)."""

    name = "darkroom"
    episode_len = 20
    num_actions = 5

    def __init__(self, size=9):
        self.size = size

    def __hash__(self):
        return hash((type(self), self.size))

    def __eq__(self, other):
        return type(other) is type(self) and other.size == self.size

    @property
    def default_params(self):
        return GridParams()

    def with_task(self, params, task):
        return params.replace(task=jnp.asarray(task, jnp.int32))

    def step(self, key, state, action, params=None):
        params = self.default_params if params is None else params
        pos = jnp.clip(state.pos + MOVES[action], 0, self.size - 1)
        reward = jnp.all(pos == params.task).astype(jnp.float32)
        t = state.time + 1
        trunc = t >= params.max_steps_in_episode
        centre = jnp.full(2, self.size // 2, jnp.int32)
        new_pos = jnp.where(trunc, centre, pos)
        new = GridState(pos=new_pos, time=jnp.where(trunc, 0, t))
        return new_pos, new, reward, jnp.bool_(False), trunc, {"final_observation": pos}

    def reset(self, key, params=None):
        pos = jnp.full(2, self.size // 2, jnp.int32)
        return pos, GridState(pos=pos, time=0)

    def observation_space(self, params):
        return spaces.Box(0, self.size - 1, (2,), jnp.int32)

    def action_space(self, params):
        return spaces.Discrete(5)


@struct.dataclass
class BanditParams(environment.EnvParams):
    task: jax.Array = struct.field(default_factory=lambda: jnp.full(2, 0.5, jnp.float32))
    max_steps_in_episode: int = struct.field(pytree_node=False, default=1)


class StandInBandit(environment.Environment):
    """Bernoulli bandit, one pull per episode (stand-in)."""

    name = "bandit"
    episode_len = 1

    def __init__(self, num_arms=2):
        self.num_arms = num_arms

    @property
    def num_actions(self):
        return self.num_arms

    def __hash__(self):
        return hash((type(self), self.num_arms))

    def __eq__(self, other):
        return type(other) is type(self) and other.num_arms == self.num_arms

    @property
    def default_params(self):
        return BanditParams(task=jnp.full(self.num_actions, 0.5, jnp.float32))

    def with_task(self, params, task):
        return params.replace(task=jnp.asarray(task, jnp.float32))

    def step(self, key, state, action, params=None):
        reward = jax.random.bernoulli(key, params.task[action]).astype(jnp.float32)
        info = {"final_observation": jnp.zeros(1, jnp.int32)}
        return jnp.zeros(1, jnp.int32), state, reward, jnp.bool_(False), jnp.bool_(True), info

    def reset(self, key, params=None):
        return jnp.zeros(1, jnp.int32), environment.EnvState(time=0)

    def observation_space(self, params):
        return spaces.Box(0, 0, (1,), jnp.int32)

    def action_space(self, params):
        return spaces.Discrete(self.num_actions)


def make_darkroom(size=3):
    try:
        from adjax import envs

        return envs.make("darkroom", size=size)
    except (ImportError, AttributeError):
        env = StandInDarkRoom(size)
        return env, env.default_params


def make_bandit(num_arms=2):
    env = StandInBandit(num_arms)
    return env, env.default_params


@pytest.fixture(scope="session")
def darkroom3():
    return make_darkroom(3)


@pytest.fixture(scope="session")
def bandit2():
    return make_bandit(2)
