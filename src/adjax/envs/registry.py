"""Registry of the Algorithm Distillation (Laskin et al. 2023) envs: make, task splits, optima."""

import jax
import jax.numpy as jnp
import numpy as np

from adjax.envs import bandit, darkroom, key_to_door

ENV_NAMES = ("darkroom", "darkroom-hard", "key-to-door", "bandit")
GRID_ENVS = ("darkroom", "darkroom-hard", "key-to-door")

# name -> (constructor, default static config, held-out count)
_SPECS = {
    "darkroom": (darkroom.DarkRoom, {"size": 9, "episode_len": 20, "hard": False}, 16),
    "darkroom-hard": (darkroom.DarkRoom, {"size": 17, "episode_len": 20, "hard": True}, 58),
    "key-to-door": (key_to_door.KeyToDoor, {"size": 9, "episode_len": 50}, 1312),
    "bandit": (bandit.Bandit, {"num_arms": 10}, None),
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


def _cells(index: np.ndarray, width: int) -> np.ndarray:
    """cell indices i = y * W + x -> int[..., 2] (x, y)."""
    return np.stack([index % width, index // width], axis=-1)


def _tasks(name: str, index: np.ndarray, width: int) -> np.ndarray:
    """task indices -> int32 tasks: a goal cell [n, 2], or (key, door) [n, 2, 2] for key-to-door,
    where task i = key_cell * W**2 + door_cell."""
    if name == "key-to-door":
        cells = width * width
        return np.stack([_cells(index // cells, width), _cells(index % cells, width)], axis=1)
    return _cells(index, width).astype(np.int32)


def task_split(name: str):
    """-> (train, test) int32 task arrays of the default config (first axis = task), exact as in
    CONVENTIONS.md: test = perm[:n], train = perm[n:] of `default_rng(0).permutation(num_tasks)`,
    both in permutation order (so any prefix of either is a uniformly random subset)."""
    _, cfg, n_test = _spec(name)
    if name == "bandit":
        raise ValueError("bandit tasks come from distributions, not a fixed set: use "
                         "adjax.envs.sample_tasks('bandit', key, n, split='train'|'odd'|'even'|"
                         "'uniform')")
    w = cfg["size"]
    num_tasks = (w * w) ** 2 if name == "key-to-door" else w * w
    perm = np.random.default_rng(0).permutation(num_tasks)
    train, test = _tasks(name, perm[n_test:], w), _tasks(name, perm[:n_test], w)
    return train.astype(np.int32), test.astype(np.int32)


def sample_tasks(name: str, key: jax.Array, n: int, split: str = "train", replace: bool = True):
    """n tasks [n, *task_shape]: grids draw uniformly from the split's set (i.i.d., or distinct
    with replace=False), split "train" | "test"; the bandit samples split "train" | "odd" | "even" |
    "uniform" (see `adjax.envs.bandit.sample_tasks`)."""
    _, cfg, _ = _spec(name)
    if name == "bandit":
        return bandit.sample_tasks(key, n, split, cfg["num_arms"])
    if split not in ("train", "test"):
        raise ValueError(f"{name}: unknown split {split!r}; known: train, test")
    pool = jnp.asarray(task_split(name)[split == "test"])
    idx = jax.random.choice(key, pool.shape[0], (n,), replace=replace)
    return pool[idx]


def optimal_return(name: str, task) -> jax.Array:
    """Best expected episode return for a task of the default config, float32 scalar (traceable).

    Dark Room: min(20, 21 - manhattan(centre, goal)); Hard: 1; bandit: max arm mean. Key-to-Door
    depends on the random start cells, so it raises NotImplementedError.
    """
    _, cfg, _ = _spec(name)
    if name in ("darkroom", "darkroom-hard"):
        return darkroom.optimal_return(task, **cfg)
    if name == "bandit":
        return jnp.max(jnp.asarray(task, jnp.float32))
    raise NotImplementedError(f"{name}: no closed-form optimal return (it depends on the random "
                              "start cell of each episode; at most 2)")
