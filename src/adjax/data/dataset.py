"""Load a dataset directory (memory-mapped, verified against its manifest); learning curves; the
pieces every writer shares (storage dtypes, checksummed manifest, atomic publication)."""

import functools
import json
import logging
import os
import shutil
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from matplotlib.figure import Figure

import adjax
from adjax import envs
from adjax.atomic import save_figure, sha256_file, write_text

log = logging.getLogger(__name__)
FORMAT_VERSION = 1  # observations stored as they were seen (obs.npy)
# Observations stored as what the env's renderer needs (obs_state.npy, e.g. Watermaze's float32
# (x, y, heading)), rendered back into frames when read. A version of its own, so that a reader
# that predates it refuses such a dataset instead of taking states for observations.
STATE_FORMAT_VERSION = 2
FORMAT_VERSIONS = (FORMAT_VERSION, STATE_FORMAT_VERSION)
REQUIRED = ("obs", "actions", "rewards", "task_index", "tasks")
STATE_ARRAY = "obs_state"


class DatasetError(ValueError):
    """A dataset directory is missing, incomplete, altered, or not for the requested env."""


@dataclass(frozen=True)
class StateRenderer:
    """Stored renderer state float32[..., F] -> frames uint8[..., H, W, C] of a registry env.

    Hashable (name and static config), so it can be a static field of a jitted pytree (the
    training windows render on device with it). `__call__` traces (use inside jit); `frames` is
    the host version (jitted, numpy in and out).
    """

    env_name: str
    config: tuple  # sorted (key, value) pairs of the env's static config

    @classmethod
    def from_manifest(cls, manifest: dict, path: Path | None = None) -> "StateRenderer":
        """The renderer a state dataset's manifest names; checks it gives the recorded frames."""
        storage = manifest.get("obs_storage") or {}
        cfg = manifest.get("env_config", {})
        where = path / "manifest.json" if path is not None else "manifest"
        try:
            env0, _ = envs.make(manifest["env"])
        except (KeyError, ValueError) as e:
            raise DatasetError(f"{where}: env {manifest.get('env')!r} cannot render stored "
                               f"observations ({e})") from e
        keys = [k for k in env0.config() if k in cfg]
        r = cls(manifest["env"], tuple(sorted((k, cfg[k]) for k in keys)))
        env = r.env
        if not envs.stores_state(env):
            raise DatasetError(f"{where}: env {manifest['env']!r} does not render stored state")
        if list(storage.get("fields", [])) != list(env.stored_obs_fields):
            raise DatasetError(f"{where}: obs_storage.fields {storage.get('fields')!r} != the "
                               f"env's {list(env.stored_obs_fields)}")
        shape = list(env.observation_space(env.default_params).shape)
        if list(storage.get("frame_shape", [])) != shape:
            raise DatasetError(f"{where}: obs_storage.frame_shape {storage.get('frame_shape')!r} "
                               f"!= {shape}, the frames env_config {dict(r.config)} renders")
        return r

    @property
    def env(self):
        return _renderer_env(self.env_name, self.config)

    @property
    def num_fields(self) -> int:
        return len(self.env.stored_obs_fields)

    @property
    def frame_shape(self) -> tuple[int, ...]:
        env = self.env
        return tuple(env.observation_space(env.default_params).shape)

    @property
    def num_features(self) -> int:
        """The width of `features`."""
        return int(jax.eval_shape(self.features, jax.ShapeDtypeStruct(
            (self.num_fields,), jnp.float32)).shape[-1])

    def features(self, state_xF: jax.Array) -> jax.Array:
        """float32[..., F] -> float32[..., F'] (traceable): the stored state as a state-based
        source reads it (Watermaze: x, y, cos and sin of the heading), the targets of the image
        encoder's auxiliary read-out (`adjax.train.TrainConfig.state_loss`)."""
        return self.env.source_features(state_xF)

    def __call__(self, state_xF: jax.Array) -> jax.Array:
        """float32[..., F] -> uint8[..., H, W, C] (traceable)."""
        lead = state_xF.shape[:-1]
        flat = state_xF.reshape(-1, state_xF.shape[-1])
        return jax.vmap(self.env.render_stored)(flat).reshape(*lead, *self.frame_shape)

    def frames(self, state_xF) -> np.ndarray:
        """Host: numpy float32[..., F] -> numpy uint8[..., H, W, C], rendered in blocks."""
        state = np.asarray(state_xF, np.float32)
        lead = state.shape[:-1]
        flat = state.reshape(-1, state.shape[-1])
        out = np.empty((flat.shape[0], *self.frame_shape), np.uint8)
        block = 4096
        for i in range(0, flat.shape[0], block):
            part = flat[i:i + block]
            pad = np.zeros((block, flat.shape[1]), np.float32)
            pad[:len(part)] = part  # one compiled shape
            out[i:i + len(part)] = np.asarray(_render_block(self, pad))[:len(part)]
        return out.reshape(*lead, *self.frame_shape)


@functools.lru_cache(maxsize=8)
def _renderer_env(name: str, config: tuple):
    return envs.make(name, **dict(config))[0]


@functools.partial(jax.jit, static_argnums=0)
def _render_block(renderer: StateRenderer, state_NxF):
    return renderer(state_NxF)


class RenderedObs:
    """A state dataset's observations as a read-only array-like: indexing renders the frames
    of the stored states it selects (the same bits as the env showed). Shape [H, T, *frame],
    dtype uint8. Whole-dataset reads (`np.asarray`) render everything: the training windows
    render on device instead (adjax.train.windows)."""

    def __init__(self, state: np.ndarray, renderer: StateRenderer):
        self.state, self.renderer = state, renderer
        self.shape = (*state.shape[:-1], *renderer.frame_shape)
        self.dtype = np.dtype(np.uint8)
        self.ndim = len(self.shape)

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, idx):
        idx = idx if isinstance(idx, tuple) else (idx,)
        lead_n = self.state.ndim - 1
        if any(i is Ellipsis or i is None for i in idx):
            return self.renderer.frames(self.state)[idx]
        head, tail = idx[:lead_n], idx[lead_n:]
        frames = self.renderer.frames(self.state[head])
        if tail:
            n_lead = frames.ndim - len(self.renderer.frame_shape)
            frames = frames[(slice(None),) * n_lead + tail]
        return frames

    def __array__(self, dtype=None, copy=None):
        frames = self.renderer.frames(self.state)
        return frames if dtype is None else frames.astype(dtype)


@dataclass(frozen=True)
class Dataset:
    """Histories on the first axis: obs [H, T, O], actions [H, T], rewards [H, T], task_index [H]
    (row of tasks), tasks [num_tasks, ...], seed [H], stream [H]; numpy memmaps. A format-2
    dataset (Watermaze) stores obs_state float32[H, T, F] and its `obs` is a `RenderedObs`
    [H, T, *frame] that renders what it is indexed with; `renderer` turns state into frames."""

    path: Path
    manifest: dict
    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    task_index: np.ndarray
    tasks: np.ndarray
    seed: np.ndarray | None = None
    stream: np.ndarray | None = None
    # State datasets (format 2): obs_state float32[H, T, F] as stored; `obs` renders from it.
    obs_state: np.ndarray | None = None
    renderer: StateRenderer | None = None

    @property
    def stores_state(self) -> bool:
        return self.obs_state is not None

    @property
    def env_name(self) -> str:
        return self.manifest["env"]

    @property
    def env_kwargs(self) -> dict:
        """The env's make kwargs the histories were collected with, where not the defaults
        (e.g. Watermaze's resolution): `envs.make(env_name, **env_kwargs)` rebuilds that env.
        {} for the defaults and for envs outside the registry."""
        if self.env_name not in envs.ENV_NAMES:
            return {}
        recorded = self.manifest.get("env_config", {})
        default = envs.make(self.env_name)[0]
        default = default.config() if callable(getattr(default, "config", None)) else {}
        return {k: recorded[k] for k in default if k in recorded and recorded[k] != default[k]}

    @property
    def episode_len(self) -> int:
        return int(self.manifest["episode_len"])

    @property
    def num_histories(self) -> int:
        return int(self.manifest["num_histories"])

    @property
    def history_len(self) -> int:
        return int(self.manifest["history_len"])

    @property
    def num_episodes(self) -> int:
        return self.history_len // self.episode_len

    @property
    def kind(self) -> str:
        return self.manifest["kind"]

    def episode_returns(self) -> np.ndarray:
        """float32[H, E]: return of every episode of every history."""
        return episode_returns(self.rewards, self.episode_len)


def obs_storage_dtype(obs_dims: Sequence[int]) -> type:
    """The smallest signed integer type holding observations in [0, max(obs_dims))."""
    hi = max(int(d) for d in obs_dims) - 1
    return np.int8 if hi <= 127 else np.int16 if hi <= 32767 else np.int32


def write_manifest(directory: Path, fields: dict, names: Sequence[str]) -> dict:
    """Write `directory/manifest.json`: `fields`, then `arrays` (shape, dtype and sha256 of each
    `directory/NAME.npy` in `names`) and `adjax_version`. Returns the manifest."""
    arrays = {}
    for name in names:
        f = directory / f"{name}.npy"
        a = np.load(f, mmap_mode="r")
        arrays[name] = {"shape": list(a.shape), "dtype": a.dtype.str, "sha256": sha256_file(f)}
        del a
    manifest = {**fields, "arrays": arrays, "adjax_version": adjax.__version__}
    write_text(directory / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    return manifest


def publish(staging: Path, out: Path, overwrite: bool = False) -> Path:
    """Rename the complete dataset directory `staging` to `out`, its sibling. An existing `out` is
    an error unless `overwrite`; then it is moved aside first and removed only once the new one is
    in place, so `out` is never a partial dataset and never lost to a failed write."""
    staging, out = Path(staging), Path(out)
    if not (out.exists() or out.is_symlink()):
        os.replace(staging, out)
        return out
    if not overwrite:
        raise FileExistsError(f"{out} exists; pass overwrite=True to replace it")
    old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
    os.replace(out, old)
    try:
        os.replace(staging, out)
    except BaseException:
        os.replace(old, out)
        raise
    shutil.rmtree(old) if old.is_dir() else old.unlink()
    return out


def _check_env(manifest: dict, env, path: Path) -> None:
    want = env if isinstance(env, str) else getattr(env, "name", None)
    if want != manifest["env"]:
        raise DatasetError(f"{path}: dataset is for env {manifest['env']!r}, not {want!r}")
    if not isinstance(env, str):
        have = manifest["env_config"]
        for attr in ("episode_len", "num_actions"):
            if int(getattr(env, attr)) != int(have[attr]):
                raise DatasetError(f"{path}: env {attr} is {getattr(env, attr)}, dataset has "
                                   f"{have[attr]}")


def load(path, env=None, verify: bool = True, quiet: bool = False) -> Dataset:
    """Open a dataset directory; checks the manifest, every array's shape and dtype and (verify)
    its sha256. `env`: a registry name or Environment the dataset must belong to."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetError(f"{path}: no such dataset directory")
    mpath = path / "manifest.json"
    if not mpath.exists():
        raise DatasetError(f"{mpath}: missing manifest (incomplete or not a dataset)")
    try:
        manifest = json.loads(mpath.read_text())
    except json.JSONDecodeError as e:
        raise DatasetError(f"{mpath}: unreadable manifest ({e})") from e
    version = manifest.get("format_version")
    if version not in FORMAT_VERSIONS:
        raise DatasetError(f"{mpath}: unsupported format_version {version!r} (this adjax reads "
                           f"{', '.join(map(str, FORMAT_VERSIONS))})")
    if env is not None:
        _check_env(manifest, env, path)
    renderer = None
    required = REQUIRED
    if version == STATE_FORMAT_VERSION:
        if not isinstance(manifest.get("obs_storage"), dict):
            raise DatasetError(f"{mpath}: format_version 2 without an obs_storage entry")
        renderer = StateRenderer.from_manifest(manifest, path)
        required = tuple(STATE_ARRAY if n == "obs" else n for n in REQUIRED)
    specs = manifest.get("arrays", {})
    arrays = {}
    for name in (*required, "seed", "stream"):
        f = path / f"{name}.npy"
        if name not in specs:
            if name in REQUIRED:
                raise DatasetError(f"{mpath}: no entry for required array {name!r}")
            arrays[name] = None
            continue
        spec = specs[name]
        if not f.exists():
            raise DatasetError(f"{f}: missing array file")
        try:
            a = np.load(f, mmap_mode="r")
        except (ValueError, OSError, EOFError) as e:
            raise DatasetError(f"{f}: unreadable or truncated .npy ({e})") from e
        if list(a.shape) != list(spec["shape"]):
            raise DatasetError(f"{f}: shape {list(a.shape)} != manifest {spec['shape']}")
        if a.dtype.str != spec["dtype"]:
            raise DatasetError(f"{f}: dtype {a.dtype.str} != manifest {spec['dtype']}")
        if verify and sha256_file(f) != spec["sha256"]:
            raise DatasetError(f"{f}: sha256 mismatch, the file was altered or corrupted")
        arrays[name] = a
    if not verify and not quiet:
        msg = f"{path}: checksums NOT verified (verify=False)"
        warnings.warn(msg, stacklevel=2)
        log.warning(msg)
    H, T = manifest["num_histories"], manifest["history_len"]
    if renderer is not None:
        state = arrays.pop(STATE_ARRAY)
        if state.ndim != 3 or state.shape[2] != renderer.num_fields or state.dtype != np.float32:
            raise DatasetError(f"{path / (STATE_ARRAY + '.npy')}: {state.dtype}{list(state.shape)}"
                               f", expected float32[{H}, {T}, {renderer.num_fields}]")
        arrays.update(obs=RenderedObs(state, renderer), obs_state=state, renderer=renderer)
    for name in ("obs", "actions", "rewards"):
        if arrays[name].shape[:2] != (H, T):
            fname = STATE_ARRAY if name == "obs" and renderer is not None else name
            raise DatasetError(f"{path / (fname + '.npy')}: leading shape {arrays[name].shape[:2]} "
                               f"!= (num_histories, history_len) = ({H}, {T})")
    if arrays["task_index"].shape != (H,):
        raise DatasetError(f"{path / 'task_index.npy'}: shape != ({H},)")
    if T % manifest["episode_len"]:
        raise DatasetError(f"{mpath}: history_len {T} is not a multiple of episode_len")
    return Dataset(path=path, manifest=manifest, **arrays)


def episode_returns(rewards_HxT: np.ndarray, episode_len: int) -> np.ndarray:
    """float[H, T] -> float32[H, E] per-episode returns."""
    H, T = rewards_HxT.shape
    return np.asarray(rewards_HxT, np.float32).reshape(H, T // episode_len, episode_len).sum(-1)


def learning_curve(ds: Dataset, max_histories: int = 4096) -> dict:
    """Return per episode over histories: {"episode", "mean", "std", "q10", "q90"} (float arrays).
    Uses an evenly spaced subset of at most max_histories histories (memory)."""
    idx = np.linspace(0, ds.num_histories - 1, min(ds.num_histories, max_histories)).astype(int)
    R = episode_returns(np.asarray(ds.rewards[np.unique(idx)]), ds.episode_len)
    k = ds.manifest.get("subsample_every", 1)
    return {"episode": (np.arange(R.shape[1]) + 1) * k - 1, "mean": R.mean(0), "std": R.std(0),
            "q10": np.quantile(R, 0.1, axis=0), "q90": np.quantile(R, 0.9, axis=0)}


def _mean_optimal_return(ds: Dataset):
    """Mean optimal return over the histories' tasks, or None when the env has no closed form."""
    try:
        if ds.manifest["env_config"].get("kwargs"):
            return None  # optimal_return knows the default config only
        opt = jax.vmap(lambda t: envs.optimal_return(ds.env_name, t))(np.asarray(ds.tasks))
        return float(np.asarray(opt)[np.asarray(ds.task_index)].mean())
    except (NotImplementedError, ValueError, TypeError, KeyError):
        return None  # an env outside the registry, or tasks given only as ids


def plot_learning_curve(ds: Dataset, path=None) -> Path:
    """Mean return per episode with a 10-90% band, saved (default: beside the dataset)."""
    c = learning_curve(ds)
    path = Path(path) if path is not None else ds.path / "learning_curve.png"
    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    ax.plot(c["episode"], c["mean"], lw=1.2, label="mean")
    ax.fill_between(c["episode"], c["q10"], c["q90"], alpha=0.25, label="10-90%")
    opt = _mean_optimal_return(ds)
    if opt is not None:
        ax.axhline(opt, ls="--", c="k", lw=0.8, label="optimal (mean over tasks)")
    ax.set_xlabel("episode (source run)")
    ax.set_ylabel("return")
    m = ds.manifest
    ax.set_title(f"{m['source']} on {m['env']} ({m['kind']}): {ds.num_histories} histories",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
