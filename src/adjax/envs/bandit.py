"""Adversarial Bernoulli bandit (Laskin et al. 2023, "In-context RL with Algorithm Distillation")"""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from adjax.envs.common import ConfiguredEnv, check_int, concrete


@struct.dataclass
class BanditParams(environment.EnvParams):
    """task float32[num_arms]: each arm's success probability; one pull per episode."""

    max_steps_in_episode: int = struct.field(pytree_node=False, default=1)
    task: jax.Array = struct.field(default_factory=lambda: jnp.full(10, 0.5, jnp.float32))
    num_arms: int = struct.field(pytree_node=False, default=10)


class Bandit(ConfiguredEnv):
    """num_arms Bernoulli arms with means `params.task`; an episode is one pull.

    The observation is always int32[1] = 0; every step is the last of its episode (`truncated`
    True, `terminated` False). Reward Bernoulli(task[action]) from one uniform draw of `key`; an
    out-of-range arm never pays (use `adjax.envs.checked_step` to make it an error). The task is
    never resampled: a trial of 100 pulls is 100 episodes on the same params.
    """

    episode_len = 1
    static_param_fields = ("num_arms",)

    def __init__(self, num_arms: int = 10):
        self.num_arms = check_int(num_arms, "num_arms", 1, self.name)

    def config(self) -> dict:
        return {"num_arms": self.num_arms}

    @property
    def name(self) -> str:
        return "bandit"

    @property
    def num_actions(self) -> int:
        return self.num_arms

    @property
    def default_params(self) -> BanditParams:
        return BanditParams(task=jnp.full(self.num_arms, 0.5, jnp.float32), num_arms=self.num_arms)

    def with_task(self, params: BanditParams, task) -> BanditParams:
        """params with arm means `task` float[num_arms] (values in [0, 1] checked when concrete)."""
        params = self.resolve_params(params)
        arr = jnp.asarray(task)
        if arr.shape != (self.num_arms,):
            raise ValueError(f"{self.name}: task must have shape ({self.num_arms},), "
                             f"got {arr.shape}")
        value = concrete(task)
        if value is not None and not np.all((value >= 0) & (value <= 1)):
            raise ValueError(f"{self.name}: arm means must lie in [0, 1], got {value.tolist()}")
        return params.replace(task=arr.astype(jnp.float32))

    def _obs(self) -> jax.Array:
        return jnp.zeros((1,), jnp.int32)

    def step_env(self, key, state, action, params):
        a = jnp.asarray(action, jnp.int32)
        valid = (a >= 0) & (a < self.num_arms)
        mean = jnp.where(valid, params.task[jnp.clip(a, 0, self.num_arms - 1)], 0.0)
        reward = (jax.random.uniform(key) < mean).astype(jnp.float32)
        return self._obs(), state.replace(time=state.time + 1), reward, jnp.bool_(False), {}

    def reset_env(self, key, params):
        return self._obs(), environment.EnvState(time=jnp.int32(0))

    def get_obs(self, state, params=None, key=None):
        return self._obs()

    def is_terminated(self, state, params):
        return jnp.bool_(False)

    @partial(jax.jit, static_argnames=("self",))
    def step(self, key, state, action, params=None):
        """gymnax 1.x step with one uniform draw from `key` (no split); always truncated."""
        params = self.resolve_params(params)
        obs, st, reward, terminated, _ = self.step_env(key, state, action, params)
        truncated = st.time >= params.max_steps_in_episode
        state = st.replace(time=jnp.where(truncated, 0, st.time))
        info = {"terminated": terminated, "truncated": truncated, "final_observation": obs}
        return obs, state, reward, terminated, truncated, info

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key, params=None):
        self.resolve_params(params)
        return self.reset_env(key, params)

    def observation_space(self, params=None) -> spaces.Box:
        return spaces.Box(0, 0, (1,), jnp.int32)

    def action_space(self, params=None) -> spaces.Discrete:
        return spaces.Discrete(self.num_arms)

    def state_space(self, params=None) -> spaces.Dict:
        return spaces.Dict({"time": spaces.Discrete(1)})


ODD_FAVOURED_PROB = {"train": 0.95, "val": 0.95, "odd": 0.95, "even": 0.05}


def sample_tasks(key: jax.Array, n: int, split: str, num_arms: int = 10) -> jax.Array:
    """Arm means float32[n, num_arms] for a split.

    train / val / odd: with probability 0.95 the odd arms (1, 3, ...) are favoured, else the even
    ones; favoured arms ~ U(0.5, 1), the others ~ U(0, 0.5). even: odd favoured with probability
    0.05.
    uniform: every arm ~ U(0, 1).
    """
    if split == "uniform":
        return jax.random.uniform(key, (n, num_arms), jnp.float32)
    if split not in ODD_FAVOURED_PROB:
        raise ValueError(f"bandit: unknown split {split!r}; known: train, val, odd, even, uniform")
    k_side, k_mu = jax.random.split(key)
    odd_favoured = jax.random.bernoulli(k_side, ODD_FAVOURED_PROB[split], (n, 1))
    is_odd = (jnp.arange(num_arms) % 2 == 1)[None, :]
    u = 0.5 * jax.random.uniform(k_mu, (n, num_arms), jnp.float32)
    return jnp.where(is_odd == odd_favoured, 0.5 + u, u)
