"""Registry of the Algorithm Distillation (Laskin et al. 2023) envs: make, task splits, optima."""

import jax
import jax.numpy as jnp
import numpy as np

from adjax.envs import bandit, darkroom, key_to_door, watermaze

ENV_NAMES = ("darkroom", "darkroom-hard", "key-to-door", "bandit", "watermaze")
GRID_ENVS = ("darkroom", "darkroom-hard", "key-to-door")

# name -> (constructor, default static config, (test, val) counts of a fixed task set)
_SPECS = {
    "darkroom": (darkroom.DarkRoom, {"size": 9, "episode_len": 20, "hard": False}, (16, 8)),
    "darkroom-hard": (darkroom.DarkRoom, {"size": 17, "episode_len": 20, "hard": True}, (58, 29)),
    "key-to-door": (key_to_door.KeyToDoor, {"size": 9, "episode_len": 50}, (1312, 656)),
    "bandit": (bandit.Bandit, {"num_arms": 10}, None),
    "watermaze": (watermaze.Watermaze, {"height": 72, "width": 96, "episode_len": 50}, (100, 100)),
}
_FIXED = {"hard"}  # config keys that define the env and cannot be overridden
SPLITS = ("train", "val", "test")  # the fixed task sets of the grid envs
# The bandit's key streams: tasks of split s are drawn from fold_in(key(0), BANDIT_STREAMS[s]), task
# i from fold_in(that, i), so collection, validation and evaluation never share a key.
BANDIT_STREAMS = {"train": 0x7A1, "val": 0x7A2, "odd": 0x7A3, "even": 0x7A4, "uniform": 0x7A5}


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


def has_task_sets(name: str) -> bool:
    """True for the envs with fixed train / val / test task sets (the grids); False for task
    distributions (the bandit)."""
    return _spec(name)[2] is not None


def task_split(name: str, validation: bool = False):
    """-> (train, test), or (train, val, test) with validation=True: disjoint task arrays of the
    default config (first axis = task; int32 cells for the grids). With
    `perm = default_rng(0).permutation(num_tasks)`: test = perm[:n], val = the next v, train = all
    the others (docs/conventions.md), each in permutation order (so any prefix is a uniformly
    random subset). Train never holds val tasks. Watermaze: float32 platform centres, train 4000
    from seed 0, test 100 from seed 1, val 100 from seed 2 (`watermaze.task_sets`)."""
    _, cfg, counts = _spec(name)
    if counts is None:
        raise ValueError(f"{name} tasks come from distributions, not a fixed set: use "
                         f"adjax.envs.sample_tasks({name!r}, key, n, split=...) or "
                         f"adjax.envs.tasks_for({name!r}, split, n) (splits: "
                         f"{', '.join(BANDIT_STREAMS)})")
    if name == "watermaze":  # continuous platforms from their own seeds, not a permutation
        sets = watermaze.task_sets()
        train, val, test = sets["train"], sets["val"], sets["test"]
        return (train, val, test) if validation else (train, test)
    (n, v), w = counts, cfg["size"]
    num_tasks = (w * w) ** 2 if name == "key-to-door" else w * w
    perm = np.random.default_rng(0).permutation(num_tasks)
    test, val, train = (_tasks(name, idx, w).astype(np.int32)
                        for idx in (perm[:n], perm[n:n + v], perm[n + v:]))
    return (train, val, test) if validation else (train, test)


def _split_set(name: str, split: str) -> np.ndarray:
    if split not in SPLITS:
        raise ValueError(f"{name}: unknown split {split!r}; known: {', '.join(SPLITS)}")
    return task_split(name, validation=True)[SPLITS.index(split)]


def sample_tasks(name: str, key: jax.Array, n: int, split: str = "train", replace: bool = True):
    """n tasks [n, *task_shape]: grids draw uniformly from the split's set (i.i.d., or distinct
    with replace=False), split "train" | "val" | "test"; the bandit samples split "train" | "val" |
    "odd" | "even" | "uniform" (see `adjax.envs.bandit.sample_tasks`)."""
    _, cfg, _ = _spec(name)
    if not has_task_sets(name):
        return bandit.sample_tasks(key, n, split, cfg["num_arms"])
    pool = jnp.asarray(_split_set(name, split))
    idx = jax.random.choice(key, pool.shape[0], (n,), replace=replace)
    return pool[idx]


def tasks_for(name: str, split: str, task_ids=None) -> tuple[np.ndarray, np.ndarray]:
    """The one task lookup of collection and evaluation -> (tasks [n, ...], ids int64[n]).

    Grids: rows `task_ids` of the split's fixed set (default: all of it). The bandit: task i of a
    split is drawn from fold_in(fold_in(key(0), BANDIT_STREAMS[split]), i), so the tasks of one
    split do not change when more are drawn and no two splits share a key; task_ids (an int n means
    range(n)) is required.
    """
    if isinstance(task_ids, int | np.integer):
        task_ids = np.arange(int(task_ids))
    if has_task_sets(name):
        pool = _split_set(name, split)
        ids = np.arange(len(pool)) if task_ids is None else np.asarray(task_ids, np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(pool)):
            raise ValueError(f"{name}: task ids up to {ids.max()} outside the {split} set of "
                             f"{len(pool)} tasks")
        return pool[ids], ids.astype(np.int64)
    if split not in BANDIT_STREAMS:
        raise ValueError(f"{name}: unknown split {split!r}; known: {', '.join(BANDIT_STREAMS)}")
    if task_ids is None:
        raise ValueError(f"{name}: tasks are drawn from a distribution; say how many (task_ids)")
    ids = np.asarray(task_ids, np.int64)
    stream = jax.random.fold_in(jax.random.key(0), BANDIT_STREAMS[split])
    keys = jax.vmap(lambda i: jax.random.fold_in(stream, i))(jnp.asarray(ids, jnp.uint32))
    rows = jax.vmap(lambda k: sample_tasks(name, k, 1, split=split)[0])(keys)
    return np.asarray(rows), ids


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
    if name == "watermaze":
        raise NotImplementedError("watermaze: no closed-form optimal return (it depends on the "
                                  "random heading at reset; at most 1)")
    raise NotImplementedError(f"{name}: no closed-form optimal return (it depends on the random "
                              "start cell of each episode; at most 2)")
