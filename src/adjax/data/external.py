"""Learning histories produced outside adjax, written as an adjax dataset directory.

`write_histories` checks everything before it writes anything, stores the arrays in the dataset
format (docs/conventions.md, "Files"; the same dtypes, manifest and checksums as `collect`) in a
hidden sibling directory and renames it into place, so `load` and `adjax.train.fit` take the result
like any collected dataset.
"""

import json
import os
import shutil
import uuid
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from adjax import envs
from adjax.data.collect import env_config
from adjax.data.dataset import (
    FORMAT_VERSION,
    load,
    obs_storage_dtype,
    plot_learning_curve,
    publish,
    write_manifest,
)
from adjax.sources.common import obs_dims

ARRAYS = ("obs", "actions", "rewards", "task_index", "tasks")
SPEC_KEYS = ("name", "obs_dims", "num_actions")


class HistoryError(ValueError):
    """External histories that do not fit the dataset format or the environment they claim."""


def _fail(field: str, expected, actual) -> None:
    raise HistoryError(f"{field}: expected {expected}, got {actual}")


def _env_spec(env, env_kwargs: dict | None, episode_len: int | None):
    """-> (name, env_config dict, task shape/dtype or None, env object or None)."""
    if isinstance(env, Mapping):
        missing = [k for k in SPEC_KEYS if k not in env]
        if missing:
            _fail("env", f"a registry name, a gymnax Environment or a mapping with keys "
                  f"{list(SPEC_KEYS)}", f"a mapping without {missing}")
        dims = [int(d) for d in env["obs_dims"]]
        if not dims or min(dims) < 1:
            _fail("env['obs_dims']", "a non-empty list of cardinalities >= 1", dims)
        num_actions = int(env["num_actions"])
        if episode_len is None:
            _fail("episode_len", "an int (an env given as a mapping has no episode length)", None)
        config = {"kwargs": {}, "episode_len": int(episode_len), "num_actions": num_actions,
                  "obs_shape": [len(dims)], "obs_dims": dims}
        return str(env["name"]), config, None, None
    if isinstance(env, str):
        env_obj, params = envs.make(env, **(env_kwargs or {}))
    else:
        env_obj, params = env, env.default_params
    if envs.stores_state(env_obj):
        _fail("env", "an env whose datasets store observations (external histories are written "
              "as obs.npy)", f"{env_obj.name!r}, whose datasets store renderer state "
              f"{tuple(env_obj.stored_obs_fields)} instead of frames (collect them with a source "
              "that records env.stored_obs)")
    own_len = getattr(env_obj, "episode_len", None)
    if own_len is None:
        own_len = getattr(params, "max_steps_in_episode", None)
    if own_len is None and episode_len is None:
        _fail("episode_len", "an int (the env defines no episode_len)", None)
    if own_len is not None and episode_len is not None and int(episode_len) != int(own_len):
        _fail("episode_len", f"{int(own_len)} (the episode length of env {env_obj.name!r})",
              episode_len)
    if any(getattr(env_obj, a, None) is None for a in ("num_actions", "episode_len")):
        config = {"kwargs": dict(env_kwargs or {}),
                  "episode_len": int(own_len if own_len is not None else episode_len),
                  "num_actions": int(env_obj.action_space(params).n),
                  "obs_shape": list(env_obj.observation_space(params).shape),
                  "obs_dims": list(obs_dims(env_obj))}
    else:
        config = env_config(env_obj, env_kwargs)
    task = getattr(params, "task", None)
    task_spec = None if task is None else (tuple(np.shape(task)), np.asarray(task).dtype)
    return env_obj.name, config, task_spec, env_obj


def _as_array(x, field: str) -> np.ndarray:
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as e:
        raise HistoryError(f"{field}: expected an array, got {type(x).__name__} ({e})") from e


def _check_integer(a: np.ndarray, field: str) -> None:
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        _fail(f"{field} dtype", "an integer dtype", a.dtype.name)


def _check_range(a: np.ndarray, field: str, hi: int, what: str) -> None:
    """Every value of the integer array `a` in [0, hi)."""
    bad = (a < 0) | (a >= hi)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        _fail(field, f"values in [0, {hi}) ({what})", f"{a[where]} at index {list(where)}")


def _tasks(tasks, task_index, H: int, task_spec, env_obj):
    """-> (tasks array [num_tasks, ...], task_index int32[H])."""
    if tasks is None:
        if task_index is None:
            return np.arange(H, dtype=np.int32), np.arange(H, dtype=np.int32)
        idx = _as_array(task_index, "task_index")
        if idx.shape != (H,):
            _fail("task_index shape", f"({H},) (one per history)", idx.shape)
        _check_integer(idx, "task_index")
        _check_range(idx, "task_index", np.iinfo(np.int32).max, "task ids")
        return np.arange(int(idx.max()) + 1, dtype=np.int32), idx.astype(np.int32)
    tasks = _as_array(tasks, "tasks")
    if tasks.ndim < 1 or len(tasks) == 0:
        _fail("tasks shape", "[num_tasks, ...] with num_tasks >= 1", tasks.shape)
    if task_spec is not None:
        shape, dtype = task_spec
        if tasks.shape[1:] != shape:
            _fail("tasks shape", f"[num_tasks, {', '.join(map(str, shape))}] (the task of "
                  f"{env_obj.name!r})", list(tasks.shape))
        if np.issubdtype(dtype, np.integer):
            _check_integer(tasks, "tasks")
        elif tasks.dtype == bool or not np.issubdtype(tasks.dtype, np.number):
            _fail("tasks dtype", f"a numeric dtype ({dtype.name})", tasks.dtype.name)
        if np.issubdtype(tasks.dtype, np.floating) and not np.isfinite(tasks).all():
            _fail("tasks", "finite values", "NaN or inf")
        tasks = tasks.astype(dtype)
        with_task = getattr(env_obj, "with_task", None)
        if with_task is not None:
            for i, t in enumerate(tasks):
                try:
                    with_task(env_obj.default_params, t)
                except ValueError as e:
                    raise HistoryError(f"tasks[{i}]: not a task of {env_obj.name!r}: {e}") from e
    if task_index is None:
        if len(tasks) != H:
            _fail("tasks", f"{H} rows (one per history) when task_index is not given",
                  f"{len(tasks)} rows")
        return np.ascontiguousarray(tasks), np.arange(H, dtype=np.int32)
    idx = _as_array(task_index, "task_index")
    if idx.shape != (H,):
        _fail("task_index shape", f"({H},) (one per history)", idx.shape)
    _check_integer(idx, "task_index")
    _check_range(idx, "task_index", len(tasks), "rows of tasks")
    return np.ascontiguousarray(tasks), idx.astype(np.int32)


def write_histories(
    out_dir: str | os.PathLike,
    obs,
    actions,
    rewards,
    *,
    env,
    episode_len: int | None = None,
    tasks=None,
    task_index=None,
    source: str = "external",
    source_config: dict | None = None,
    kind: str = "learning",
    env_kwargs: dict | None = None,
    overwrite: bool = False,
    plot: bool = True,
) -> Path:
    """Write learning histories from anywhere as a dataset directory `out_dir`; return its path.

    obs int[H, T, O] (o_t, the observation a_t was chosen on), actions int[H, T] (a_t),
    rewards float[H, T] (r_t, the reward that followed a_t): H histories of T steps each, every
    history a run of one learner on one task, episodes of `episode_len` steps back to back
    (T a multiple of it), in the order the learner lived them.

    env: what the histories were played in. A registry name (`adjax.envs.make(env,
    **env_kwargs)`) or a gymnax Environment (observations int in [0, high] of its Box space,
    a Discrete action space): episode_len, the observation cardinalities and the number of actions
    come from it, and tasks must be tasks of it. Or a mapping {"name", "obs_dims", "num_actions"}
    for histories with no gymnax env at all (then episode_len is required).

    tasks [num_tasks, ...] and task_index int[H] (row of tasks for each history): tasks alone is
    one task per history; neither makes every history its own task, known by an id only.
    source, source_config (JSON-able) and kind ("learning", or "expert" for ED's data) describe
    the histories in the manifest.

    Everything is checked before anything is written; a mismatch raises `HistoryError` naming the
    field, what was expected and what was given. The dataset is written to a hidden sibling and
    renamed into place; an existing `out_dir` is an error unless `overwrite` (then it is replaced
    only once the new dataset is complete). `plot` adds learning_curve.png beside the arrays.
    """
    out = Path(out_dir)
    if (out.exists() or out.is_symlink()) and not overwrite:
        raise FileExistsError(f"out_dir: {out} exists; pass overwrite=True to replace it")
    if kind not in ("learning", "expert"):
        _fail("kind", "'learning' or 'expert'", repr(kind))
    if episode_len is not None and (isinstance(episode_len, bool) or int(episode_len) < 1
                                    or int(episode_len) != episode_len):
        _fail("episode_len", "an int >= 1", episode_len)
    name, config, task_spec, env_obj = _env_spec(env, env_kwargs, episode_len)
    L, A, dims = config["episode_len"], config["num_actions"], config["obs_dims"]
    if A > 255:
        _fail("num_actions", "at most 255 (actions are stored as uint8)", A)

    obs = _as_array(obs, "obs")
    actions = _as_array(actions, "actions")
    rewards = _as_array(rewards, "rewards")
    if obs.ndim != 3:
        _fail("obs shape", f"[histories, steps, {len(dims)}] (3 axes)", list(obs.shape))
    H, T, n_obs = obs.shape
    if n_obs != len(dims):
        _fail("obs shape", f"[{H}, {T}, {len(dims)}] ({len(dims)} observation components of "
              f"{name!r})", list(obs.shape))
    if H == 0 or T == 0:
        _fail("obs shape", "at least one history of at least one step", list(obs.shape))
    for field, a in (("actions", actions), ("rewards", rewards)):
        if a.shape != (H, T):
            _fail(f"{field} shape", f"[{H}, {T}] (histories, steps of obs)", list(a.shape))
    if T % L:
        _fail("number of steps", f"a multiple of episode_len {L} (whole episodes)",
              f"{T} ({T // L} episodes and {T % L} steps)")
    _check_integer(obs, "obs")
    for i, d in enumerate(dims):
        _check_range(obs[..., i], f"obs[..., {i}]", d, f"obs_dims[{i}] = {d}")
    _check_integer(actions, "actions")
    _check_range(actions, "actions", A, f"{A} actions")
    if rewards.dtype == bool or not np.issubdtype(rewards.dtype, np.number) or np.iscomplexobj(
            rewards):
        _fail("rewards dtype", "a real numeric dtype", rewards.dtype.name)
    finite = np.isfinite(rewards)
    if not finite.all():
        where = [int(i) for i in np.argwhere(~finite)[0]]
        _fail("rewards", "finite values", f"{rewards[tuple(where)]} at index {where}")
    r16 = rewards.astype(np.float16)
    inexact = r16.astype(np.float64) != rewards.astype(np.float64)
    if inexact.any():
        where = [int(i) for i in np.argwhere(inexact)[0]]
        _fail("rewards", "values exactly representable in float16 (the stored dtype)",
              f"{rewards[tuple(where)]} at index {where}")
    tasks_arr, idx = _tasks(tasks, task_index, H, task_spec, env_obj)
    fields = {
        "format_version": FORMAT_VERSION,
        "env": name,
        "env_config": config,
        "source": str(source),
        "source_config": dict(source_config or {}),
        "kind": kind,
        "split": None,
        "task_ids": None,
        "subsample_every": 1,
        "keep_streams": None,
        "expert_episodes": None,
        "seed": None,
        "seeds": None,
        "num_tasks": len(tasks_arr),
        "num_histories": H,
        "history_len": T,
        "episode_len": L,
        "num_episodes": T // L,
    }
    try:
        json.dumps(fields)
    except TypeError as e:
        raise HistoryError(f"source_config: expected JSON-able values ({e})") from e

    staging = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:12]}"
    out.parent.mkdir(parents=True, exist_ok=True)
    staging.mkdir()
    try:
        np.save(staging / "obs.npy", obs.astype(obs_storage_dtype(dims)))
        np.save(staging / "actions.npy", actions.astype(np.uint8))
        np.save(staging / "rewards.npy", r16)
        np.save(staging / "task_index.npy", idx)
        np.save(staging / "tasks.npy", tasks_arr)
        write_manifest(staging, fields, ARRAYS)
        if plot:
            plot_learning_curve(load(staging, quiet=True), staging / "learning_curve.png")
        return publish(staging, out, overwrite=overwrite)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
