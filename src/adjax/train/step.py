"""Train state and the jitted, data-parallel training step (several steps scanned per call)."""

import dataclasses
import functools

import jax
import jax.numpy as jnp
import optax
from flax import struct
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from adjax.devices import local_mesh
from adjax.model import ADTransformer, ModelConfig, init_params
from adjax.train.config import TrainConfig, optimizer
from adjax.train.windows import DeviceData, action_loss, device_data, sample_batch


@struct.dataclass
class TrainState:
    """step int32[]; key uint32[2]: raw data of the root key (step t uses fold_in(root, t))."""

    step: jax.Array
    params: dict
    opt_state: optax.OptState
    key: jax.Array


def init_state(model_cfg: ModelConfig, train_cfg: TrainConfig) -> TrainState:
    """Fresh parameters and optimiser state from train_cfg.seed."""
    k_init, k_train = jax.random.split(jax.random.key(train_cfg.seed))
    params = init_params(model_cfg, k_init)
    return TrainState(step=jnp.zeros((), jnp.int32), params=params,
                      opt_state=optimizer(train_cfg).init(params),
                      key=jax.random.key_data(k_train))


def data_mesh(num_devices: int | None = None) -> jax.sharding.Mesh | None:
    """A 1-D mesh with a "data" axis over the local devices (None with one device)."""
    return local_mesh("data", num_devices)


def replicate(tree, mesh):
    """Put a pytree on every device of the mesh (or on the default device)."""
    if mesh is None:
        return jax.device_put(tree)
    return jax.device_put(tree, NamedSharding(mesh, P()))


def to_device(arrays, mesh) -> DeviceData:
    """Host histories -> replicated device arrays in their dataset dtypes."""
    return replicate(device_data(arrays), mesh)


def make_train_chunk(model_cfg: ModelConfig, train_cfg: TrainConfig, mesh=None):
    """-> jitted f(state, data, num_steps: static) -> (state, metrics {name: float32[num_steps]}).

    With a mesh, the batch is sharded over "data" and params/optimiser state stay replicated
    (GSPMD inserts the gradient all-reduce). The caller blocks on the loss after every call.
    """
    model, tx = ADTransformer(model_cfg), optimizer(train_cfg)
    c, A, B = model_cfg.context_len, model_cfg.num_actions, train_cfg.batch_size
    batch_sharding = None if mesh is None else NamedSharding(mesh, P("data"))

    def loss_fn(params, batch, key):
        x = batch.inputs
        logits = model.apply(params, x.obs, x.prev_action, x.prev_reward, train=True,
                             rngs={"dropout": key})
        return action_loss(logits, batch.targets, train_cfg.label_smoothing)

    def one_step(state: TrainState, data: DeviceData):
        key = jax.random.fold_in(jax.random.wrap_key_data(state.key), state.step)
        k_batch, k_drop = jax.random.split(key)
        batch = sample_batch(k_batch, data, B, c, A, train_cfg.window_stride)
        if batch_sharding is not None:
            batch = jax.lax.with_sharding_constraint(batch, batch_sharding)
        (loss, acc), grads = jax.value_and_grad(loss_fn, has_aux=True)(state.params, batch, k_drop)
        updates, opt_state = tx.update(grads, state.opt_state, state.params)
        params = optax.apply_updates(state.params, updates)
        state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
        return state, {"loss": loss, "accuracy": acc, "grad_norm": optax.tree.norm(grads)}

    def chunk(state, data, num_steps):
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
