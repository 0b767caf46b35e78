"""Registry of the Algorithm Distillation (Laskin et al. 2023) envs: make, task splits, optima."""

import jax
import jax.numpy as jnp
import numpy as np

from adjax.envs import darkroom

ENV_NAMES = ("darkroom", "darkroom-hard")

# name -> (constructor, default static config, held-out count)
_SPECS = {
    "darkroom": (darkroom.DarkRoom, {"size": 9, "episode_len": 20, "hard": False}, 16),
    "darkroom-hard": (darkroom.DarkRoom, {"size": 17, "episode_len": 20, "hard": True}, 58),
}
_FIXED = {"hard"}  # config keys that define the env and cannot be overridden


def _spec(name: str):
    if name not in _SPECS:
        raise ValueError(f"unknown environment {name!r}; known: {', '.join(ENV_NAMES)}")
    return _SPECS[name]


def make(name: str, **overrides):
    """-> (env, default EnvParams) for a registry name; overrides set static config (size, ...)."""
    cls, defaults, _ = _spec(name)
    allowed = sorted(set(defaults) - _FIXED)
    bad = sorted(set(overrides) - set(allowed))
    if bad:
        raise ValueError(f"{name}: unknown override(s) {bad}; allowed: {allowed}")
    env = cls(**{**defaults, **overrides})
    return env, env.default_params


def _grid_cells(cells: np.ndarray, width: int) -> np.ndarray:
    """cell indices i = y * W + x -> int32[n, 2] (x, y)."""
    return np.stack([cells % width, cells // width], axis=-1).astype(np.int32)


def task_split(name: str):
    """-> (train, test) int32 task arrays of the default config (first axis = task), exact as in
    CONVENTIONS.md: test = perm[:n], train = perm[n:] of `default_rng(0).permutation(num_tasks)`,
    both in permutation order (so any prefix of either is a uniformly random subset)."""
    _, cfg, n_test = _spec(name)
    if name in ("darkroom", "darkroom-hard"):
        w = cfg["size"]
        perm = np.random.default_rng(0).permutation(w * w)
        return _grid_cells(perm[n_test:], w), _grid_cells(perm[:n_test], w)
    raise AssertionError(name)


def sample_tasks(name: str, key: jax.Array, n: int, split: str = "train", replace: bool = True):
    """n tasks [n, *task_shape] drawn uniformly (i.i.d. unless replace=False) from a split's set."""
    _spec(name)
    if split not in ("train", "test"):
        raise ValueError(f"{name}: unknown split {split!r}; known: train, test")
    pool = jnp.asarray(task_split(name)[split == "test"])
    idx = jax.random.choice(key, pool.shape[0], (n,), replace=replace)
    return pool[idx]


def optimal_return(name: str, task) -> jax.Array:
    """Best achievable episode return for a task (default config), float32 scalar."""
    _, cfg, _ = _spec(name)
    if name in ("darkroom", "darkroom-hard"):
        return darkroom.optimal_return(task, **cfg)
    raise AssertionError(name)
