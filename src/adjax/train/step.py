"""Train state and the jitted, data-parallel training step (several steps scanned per call).

On several devices (of one process or of a multi-process job: `adjax.distributed`) the
histories are split over the mesh's "data" axis, each device holding its block only
(`to_device`), so a process holds dataset / processes. Each step draws the same window indices
as on one device (`sample_indices` of the step's key); every device cuts the windows of its own
histories, zeros elsewhere, and a reduce-scatter (a sum with one nonzero term: exact) hands each
device its rows of the batch. So the batch of a step is the same bits on any number of devices
and processes, and a run resumed on another number continues the same batches.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from adjax.devices import local_mesh
from adjax.model import ModelConfig, init_params, make_model, mark_episode_starts, sown_state_pred
from adjax.train.config import TrainConfig, optimizer
from adjax.train.windows import (
    Batch,
    DeviceData,
    action_loss,
    device_data,
    read_rows,
    sample_indices,
    sample_window,
    state_loss,
)


@struct.dataclass
class TrainState:
    """step int32[]; params: the model's variables, {"params": trained weights} plus, for the image
    encoder, {"batch_stats": BatchNorm's running averages} (updated by each step's forward pass,
    not by the optimiser, whose state covers "params" only); key uint32[2]: raw data of the root
    key (step t uses fold_in(root, t))."""

    step: jax.Array
    params: dict
    opt_state: optax.OptState
    key: jax.Array


def init_state(model_cfg: ModelConfig, train_cfg: TrainConfig) -> TrainState:
    """Fresh parameters and optimiser state from train_cfg.seed."""
    k_init, k_train = jax.random.split(jax.random.key(train_cfg.seed))
    params = init_params(model_cfg, k_init)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=optimizer(train_cfg).init(trained(params)),
                      key=jax.random.key_data(k_train))


def trained(variables: dict) -> dict:
    """The optimiser's part of a model's variables: {"params": ...}."""
    return {"params": variables["params"]}


def data_mesh(num_devices: int | None = None) -> jax.sharding.Mesh | None:
    """A 1-D mesh with a "data" axis: over the first num_devices local devices (None with one)
    in a single process; over every device of the job, process by process, in a multi-process
    one (num_devices is then ignored)."""
    if jax.process_count() == 1:
        return local_mesh("data", num_devices)
    return jax.sharding.Mesh(np.asarray(jax.devices()), ("data",),
                             axis_types=(jax.sharding.AxisType.Auto,))


def replicate(tree, mesh):
    """Put a pytree on every device of the mesh (or on the default device). In a multi-process
    job every process passes the same values (e.g. `init_state` of one seed)."""
    if mesh is None:
        return jax.device_put(tree)
    sharding = NamedSharding(mesh, P())
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)

    def put(x):
        x = np.asarray(x)
        return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])

    return jax.tree.map(put, tree)


def shard_bounds(num_histories: int, num_shards: int) -> np.ndarray:
    """int64[num_shards + 1]: shard d holds histories [b[d], b[d + 1]) (sizes differ by <= 1)."""
    return (np.arange(num_shards + 1) * num_histories) // num_shards


def local_rows(num_histories: int, mesh) -> tuple[int, int]:
    """[lo, hi): the histories this process's devices hold (all of them without a mesh)."""
    if mesh is None:
        return 0, num_histories
    b, mine = shard_bounds(num_histories, mesh.size), _local_positions(mesh)
    return int(b[min(mine)]), int(b[max(mine) + 1])


def _local_positions(mesh) -> list[int]:
    local = {d.id for d in jax.local_devices()}
    return [i for i, d in enumerate(mesh.devices.flat) if d.id in local]


def _page_aligned_zeros(shape, dtype) -> np.ndarray:
    """Zeros whose buffer starts on a page: a CPU device keeps such an array as its buffer
    (measured: the resident memory of the placed histories is 1x their size, 2x from np.zeros,
    whose large buffers start 16 bytes into a page and are copied)."""
    nbytes, page = int(np.prod(shape)) * np.dtype(dtype).itemsize, 4096
    raw = np.zeros(nbytes + page, np.uint8)
    start = -raw.ctypes.data % page
    return raw[start: start + nbytes].view(dtype).reshape(shape)


def to_device(arrays, mesh) -> DeviceData:
    """Host histories (`Arrays`: numpy arrays or memory maps) -> device arrays in their dataset
    dtypes: on one device without a mesh; with one, split over its "data" axis, each process
    reading only the histories of its own devices. A renderer-state dataset keeps its renderer
    (windows are rendered when sampled)."""
    if mesh is None:
        return replicate(device_data(arrays), mesh)
    H, D = arrays.actions.shape[0], mesh.size
    bounds, rows = shard_bounds(H, D), -(-H // D)
    sharding = NamedSharding(mesh, P("data"))

    def put(arr):
        def block(index):  # this device's histories, zero-padded to `rows`
            lo, hi = bounds[(index[0].start or 0) // rows: (index[0].start or 0) // rows + 2]
            out = _page_aligned_zeros((rows, *arr.shape[1:]), arr.dtype)
            read_rows(arr, lo, hi, out[: hi - lo])
            out.flags.writeable = False
            return out

        return jax.make_array_from_callback((D * rows, *arr.shape[1:]), sharding, block)

    return DeviceData(obs=put(arrays.obs), actions=put(arrays.actions),
                      rewards=put(arrays.rewards), num_histories=int(H), render=arrays.render,
                      episode_len=int(arrays.episode_len))


def sharded_windows(mesh, data: DeviceData, h_B, s_B, context_len: int, num_actions: int):
    """The windows (h_B, s_B) of histories split over mesh's "data" axis -> a Batch sharded
    over "data" whose rows are those of `sample_batch` on all the histories (bits)."""
    D, H = mesh.size, data.num_histories
    rows = data.actions.shape[0] // D

    def local(obs, actions, rewards, h_B, s_B):
        d = jax.lax.axis_index("data")
        lo, hi = (d * H) // D, ((d + 1) * H) // D
        mine_B = (h_B >= lo) & (h_B < hi)
        block = DeviceData(obs=obs, actions=actions, rewards=rewards, render=data.render)
        b = jax.vmap(sample_window, (None, 0, 0, None, None))(
            block, jnp.clip(h_B - lo, 0, rows - 1), s_B, context_len, num_actions)
        b = jax.tree.map(lambda x: jnp.where(mine_B.reshape(-1, *(1,) * (x.ndim - 1)), x,
                                             jnp.zeros((), x.dtype)), b)
        return jax.tree.map(
            lambda x: jax.lax.psum_scatter(x, "data", scatter_dimension=0, tiled=True), b)

    rows_spec = P("data")
    return jax.shard_map(local, mesh=mesh, in_specs=(rows_spec,) * 3 + (P(), P()),
                         out_specs=rows_spec)(data.obs, data.actions, data.rewards, h_B, s_B)


def train_windows(key, data: DeviceData, model_cfg: ModelConfig, train_cfg: TrainConfig,
                  mesh=None) -> Batch:
    """One step's batch of training windows (`sample_indices` of `key`), cut where the histories
    are (rows split over mesh's "data" axis, or whole on every device); episode starts marked
    for a model with `episode_marker`."""
    c, A, B = model_cfg.context_len, model_cfg.num_actions, train_cfg.batch_size
    rows, T = data.actions.shape
    H = rows if data.num_histories is None else data.num_histories
    h_B, s_B = sample_indices(key, H, T, B, c, train_cfg.window_stride)
    if data.num_histories is not None:
        batch = sharded_windows(mesh, data, h_B, s_B, c, A)
    else:
        batch = jax.vmap(sample_window, (None, 0, 0, None, None))(data, h_B, s_B, c, A)
    if model_cfg.episode_marker:
        if data.episode_len is None:
            raise ValueError("ModelConfig.episode_marker needs the histories' episode length "
                             "(DeviceData.episode_len is None)")
        t_BxC = s_B[:, None] + jnp.arange(c)[None]
        batch = batch.replace(inputs=mark_episode_starts(batch.inputs, t_BxC, data.episode_len,
                                                         A))
    if mesh is not None and data.num_histories is None:  # histories copied to every device
        batch = jax.lax.with_sharding_constraint(batch, NamedSharding(mesh, P("data")))
    return batch


def make_train_chunk(model_cfg: ModelConfig, train_cfg: TrainConfig, mesh=None):
    """-> jitted f(state, data, num_steps: static) -> (state, metrics {name: float32[num_steps]}).

    With a mesh, the batch is sharded over "data" and params/optimiser state stay replicated
    (GSPMD inserts the gradient all-reduce). The caller blocks on the loss after every call.
    """
    model, tx = make_model(model_cfg), optimizer(train_cfg)

    aux = train_cfg.state_loss > 0

    def loss_fn(params, stats, batch, key):
        """stats: the variables the forward pass updates ({} or {"batch_stats": ...}). With
        state_loss, the loss adds its weight times the state read-out's error (both parts are
        metrics of their own)."""
        x = batch.inputs
        logits, out = model.apply({**params, **stats}, x.obs, x.prev_action, x.prev_reward,
                                  train=True, rngs={"dropout": key},
                                  mutable=[*stats, "intermediates"] if aux else list(stats))
        loss, acc = action_loss(logits, batch.targets, train_cfg.label_smoothing)
        extra = {}
        if aux:
            extra["state_mse"] = state_loss(sown_state_pred(out.pop("intermediates")), batch)
            extra["action_loss"] = loss
            loss = loss + train_cfg.state_loss * extra["state_mse"]
        return loss, (acc, extra, dict(out))

    def one_step(state: TrainState, data: DeviceData):
        key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
        k_batch, k_drop = jax.random.split(key)
        batch = train_windows(k_batch, data, model_cfg, train_cfg, mesh)
        params = trained(state.params)
        stats = {k: v for k, v in state.params.items() if k != "params"}
        (loss, (acc, extra, stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, stats, batch, k_drop)
        updates, opt_state = tx.update(grads, state.opt_state, params)
        params = {**optax.apply_updates(params, updates), **stats}
        state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
        return state, {"loss": loss, "accuracy": acc, "grad_norm": optax.tree.norm(grads),
                       **extra}

    def chunk(state, data, num_steps):
        if num_steps == 1:
            # Not a loop of one: XLA:CPU runs convolutions (the image encoder) 4-8x slower inside
            # a loop body than outside one, so image models train with steps_per_call=1.
            state, metrics = one_step(state, data)
            return state, jax.tree.map(lambda x: x[None], metrics)
        return jax.lax.scan(lambda s, _: one_step(s, data), state, None, length=num_steps)

    if mesh is None:
        return jax.jit(chunk, static_argnums=2)
    repl = NamedSharding(mesh, P())
    return jax.jit(chunk, static_argnums=2, out_shardings=(repl, repl))


def cached_train_chunk(model_cfg: ModelConfig, train_cfg: TrainConfig, num_devices: int):
    """make_train_chunk memoised by config (fit calls share compiled code within a process);
    the seed only sets the initial state, so runs that differ in it share one."""
    return _train_chunk(model_cfg, dataclasses.replace(train_cfg, seed=0), num_devices)


@functools.cache
def _train_chunk(model_cfg: ModelConfig, train_cfg: TrainConfig, num_devices: int):
    return make_train_chunk(model_cfg, train_cfg, data_mesh(num_devices))
