"""Training data on device, random across-episode windows inside one history, the action loss."""

import dataclasses
import os
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from adjax.model import StepInputs, step_inputs


@dataclasses.dataclass(frozen=True)
class Arrays:
    """Learning histories as plain arrays (host): what the trainer needs from a dataset.

    obs int[H, T, O], actions int[H, T], rewards float[H, T]; T = episodes * episode_len.
    render: for a dataset that stores renderer state (Watermaze), obs is that state float32[H,
    T, F] and `render` (an `adjax.data.dataset.StateRenderer`) turns a window of it into frames
    when the window is sampled, on device; None for observations stored as seen.
    env_kwargs: the env's make kwargs the histories were collected with (e.g. Watermaze's
    resolution; {} for the defaults): what evaluation rebuilds the env from.
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    episode_len: int
    env_name: str = ""
    kind: str = "learning"
    obs_dims: tuple[int, ...] | None = None
    num_actions: int | None = None
    render: Callable | None = None
    env_kwargs: dict = dataclasses.field(default_factory=dict)

    @property
    def num_histories(self) -> int:
        return self.obs.shape[0]

    @property
    def history_len(self) -> int:
        return self.obs.shape[1]


def read_rows(arr, lo: int, hi: int, out: np.ndarray | None = None) -> np.ndarray:
    """arr[lo:hi] copied into `out` (default a new array). From a memory map of a whole .npy
    file the rows are read from the file, so that this process maps none of the file's pages:
    mapped pages count in its resident memory beside the copy, doubling what a process of a
    multi-process job holds."""
    out = np.empty((hi - lo, *arr.shape[1:]), arr.dtype) if out is None else out
    path = getattr(arr, "filename", None)
    whole = (isinstance(arr, np.memmap) and path and arr.flags.c_contiguous
             and os.path.getsize(path) == arr.offset + arr.nbytes)
    if not whole or hi <= lo:
        out[...] = arr[lo:hi]
        return out
    row = arr.strides[0]
    with open(path, "rb") as f:
        f.seek(arr.offset + lo * row)
        if f.readinto(memoryview(out).cast("B")) != (hi - lo) * row:
            raise OSError(f"{path}: shorter than its header says (truncated?)")
    return out


def as_arrays(data) -> Arrays:
    """An `adjax.data.Dataset` (or anything with its fields) or `Arrays` -> `Arrays`."""
    if isinstance(data, Arrays):
        return data
    env_cfg = data.manifest.get("env_config", {})
    dims = env_cfg.get("obs_dims")
    state = getattr(data, "obs_state", None)  # stored renderer state: frames rendered per window
    return Arrays(obs=data.obs if state is None else state, actions=data.actions,
                  rewards=data.rewards, episode_len=int(data.episode_len), env_name=data.env_name,
                  kind=data.kind, obs_dims=tuple(dims) if dims is not None else None,
                  num_actions=env_cfg.get("num_actions"),
                  render=None if state is None else data.renderer,
                  env_kwargs=dict(getattr(data, "env_kwargs", None) or {}))


@struct.dataclass
class DeviceData:
    """Device-resident histories, dataset dtypes kept (int8 / uint8 / float16): [rows, T, ...].

    num_histories None: every row is a history (on one device, or a copy on each). Otherwise
    the rows are split over a mesh's "data" axis (`adjax.train.step.to_device`): device d of D
    holds histories [d H // D, (d + 1) H // D) of H = num_histories, padded to rows / D rows.
    With `render` (static), obs is renderer state [rows, T, F] and windows are rendered to
    frames when sampled. episode_len (static): steps per episode, every history starting at an
    episode's start (what `ModelConfig.episode_marker` needs; None where unknown).
    """

    obs: jax.Array
    actions: jax.Array
    rewards: jax.Array
    num_histories: int | None = struct.field(pytree_node=False, default=None)
    render: Callable | None = struct.field(pytree_node=False, default=None)
    episode_len: int | None = struct.field(pytree_node=False, default=None)


def device_data(arrays: Arrays) -> DeviceData:
    """Host `Arrays` -> DeviceData of numpy arrays (the caller places them), renderer kept."""
    return DeviceData(obs=np.asarray(arrays.obs), actions=np.asarray(arrays.actions),
                      rewards=np.asarray(arrays.rewards), render=arrays.render,
                      episode_len=int(arrays.episode_len))


@struct.dataclass
class Batch:
    """inputs: StepInputs with leading [B, c]; targets int32[B, c], the actions taken; state:
    for a renderer-state dataset, float32[B, c, F'] the features of the state each frame was
    rendered from (`StateRenderer.features`: the auxiliary loss's targets), else None."""

    inputs: StepInputs
    targets: jax.Array
    state: jax.Array | None = None


def sample_window(data: DeviceData, h, s, context_len: int, num_actions: int) -> Batch:
    """The window of steps [s, s + c) of history h (scalars) -> unbatched inputs and targets.
    A renderer-state dataset's window is rendered here: obs uint8[c, H, W, C] (as are stored
    frames, whose trailing axes are taken whole), and its state's features kept beside them."""
    c, per_step = context_len, data.obs.shape[2:]
    obs_cxO = jax.lax.dynamic_slice(data.obs, (h, s) + (0,) * len(per_step),
                                    (1, c, *per_step))[0]
    state = None
    if data.render is not None:
        state = data.render.features(obs_cxO)
        obs_cxO = data.render(obs_cxO)
    act_c = jax.lax.dynamic_slice(data.actions, (h, s), (1, c))[0].astype(jnp.int32)
    rew_c = jax.lax.dynamic_slice(data.rewards, (h, s), (1, c))[0]
    prev = jnp.maximum(s - 1, 0)
    first_a = jnp.where(s > 0, data.actions[h, prev].astype(jnp.int32), num_actions)
    first_r = jnp.where(s > 0, data.rewards[h, prev].astype(jnp.float32), 0.0)
    return Batch(inputs=step_inputs(obs_cxO, act_c, rew_c, first_a, first_r), targets=act_c,
                 state=state)


def sample_indices(key, num_histories: int, history_len: int, batch: int, context_len: int,
                   stride: int = 1) -> tuple[jax.Array, jax.Array]:
    """(history int32[batch], start int32[batch]) of `batch` windows: history ~ U{0..H-1}, start
    ~ stride * U{0..(T-c) // stride}, so a window never straddles two histories."""
    kh, ks = jax.random.split(key)
    h_B = jax.random.randint(kh, (batch,), 0, num_histories)
    s_B = stride * jax.random.randint(ks, (batch,), 0, (history_len - context_len) // stride + 1)
    return h_B, s_B


def sample_batch(key, data: DeviceData, batch: int, context_len: int, num_actions: int,
                 stride: int = 1) -> Batch:
    """`batch` windows at `sample_indices` of histories whose every row is at hand."""
    H, T = data.actions.shape
    h_B, s_B = sample_indices(key, H, T, batch, context_len, stride)
    return jax.vmap(sample_window, (None, 0, 0, None, None))(data, h_B, s_B, context_len,
                                                            num_actions)


def state_loss(pred_NxF, batch: Batch):
    """Mean squared error of the model's state read-out (frames in window order) against the
    batch's state features."""
    target = batch.state.reshape(pred_NxF.shape)
    return jnp.mean(jnp.square(pred_NxF.astype(jnp.float32) - target))


def action_loss(logits_BxTxA, targets_BxT, label_smoothing: float):
    """Mean cross-entropy against label-smoothed one-hot actions, and accuracy (argmax == a)."""
    num_actions = logits_BxTxA.shape[-1]
    labels = optax.smooth_labels(jax.nn.one_hot(targets_BxT, num_actions), label_smoothing)
    loss = optax.softmax_cross_entropy(logits_BxTxA, labels).mean()
    acc = (jnp.argmax(logits_BxTxA, axis=-1) == targets_BxT).mean()
    return loss, acc
