"""Where the work runs: every local device, with independent tasks split across them.

XLA gives a CPU one device, and a vmapped scan over tasks then runs most of its small kernels
on one core (XLA splits only the larger ones across threads). `use_cpu_cores()` asks JAX for
one CPU device per core instead; the task-parallel stages (history collection, in-context
evaluation) put their chunks' tasks across the devices (`shard_tasks`), and training splits
its batch across them (data parallel, `adjax.train.step.data_mesh`). Measured on a 2-core CPU
(same-minute A/B): Q-learning history collection 1.7x faster, a CPU-sized train step 1.35x.

Per-task results are the same bits on any number of devices (each task's computation is
unchanged); training's gradient mean is summed in another order across devices, so a training
run is bit-reproducible for a given device count, not across counts. `ADJAX_CPU_DEVICES=1`
restores the single-device runs. On a GPU or TPU nothing changes: the CPU setting only affects
the CPU backend, and the accelerator's devices are used as they are.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

# JAX is imported where it is used: `python -m adjax.launch` reads default_cpu_devices without
# paying for it (seconds on a busy machine, before it can pass on a Ctrl-C).

ENV_VAR = "ADJAX_CPU_DEVICES"
MAX_DEFAULT = 8  # more single-core devices than this has not been measured


def default_cpu_devices() -> int:
    """$ADJAX_CPU_DEVICES, else the largest power of two <= the cores this process may use, at
    most MAX_DEFAULT (powers of two divide the presets' batch sizes: training splits its batch
    evenly across the devices)."""
    value = os.environ.get(ENV_VAR)
    if value is not None:
        if not value.strip().isdigit() or int(value) < 1:
            raise ValueError(f"{ENV_VAR} must be a positive integer, got {value!r}")
        return int(value)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    n = max(1, min(cores or 1, MAX_DEFAULT))
    return 1 << (n.bit_length() - 1)


def cpu_name() -> str:
    """The CPU's model and its widest vector unit, e.g. "AMD EPYC, AVX2" (from /proc/cpuinfo,
    Linux), else the architecture: run records carry it because a CPU kind's float32 throughput
    varies with it several-fold, so timings on two kinds are not comparable."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    model = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", text, re.M)
    flags = set(flags.group(1).split()) if flags else set()
    vector = next((label for flag, label in (("avx512f", "AVX-512"), ("avx2", "AVX2"),
                                             ("avx", "AVX")) if flag in flags), None)
    parts = [model.group(1).strip() if model else platform.machine(), vector]
    return ", ".join(p for p in parts if p)


def use_cpu_cores(num_devices: int | None = None) -> int:
    """One JAX CPU device per core (or `num_devices`); call before any JAX computation.

    Returns the number of CPU devices JAX will have. Does nothing (and returns what JAX has)
    when the backends are already running or XLA_FLAGS forces a device count itself.
    """
    import jax

    n = default_cpu_devices() if num_devices is None else int(num_devices)
    if n < 1:
        raise ValueError(f"use_cpu_cores: num_devices must be >= 1, got {n}")
    flags = os.environ.get("XLA_FLAGS", "")
    forced = re.search(r"xla_force_host_platform_device_count=(\d+)", flags)
    if forced:
        return int(forced.group(1))
    try:
        jax.config.update("jax_num_cpu_devices", n)
    except RuntimeError:  # backends already initialised: keep what they have
        return len(jax.devices("cpu"))
    return n


def local_mesh(axis: str, num_devices: int | None = None) -> jax.sharding.Mesh | None:
    """A 1-D mesh named `axis` over the first num_devices local devices (None with one)."""
    import jax

    n = num_devices or jax.local_device_count()
    if n == 1:
        return None
    return jax.make_mesh((n,), (axis,), axis_types=(jax.sharding.AxisType.Auto,),
                         devices=jax.local_devices()[:n])


def round_up(size: int) -> int:
    """size rounded up to a multiple of the local device count (a chunk every device shares)."""
    import jax

    n = jax.local_device_count()
    return -(-size // n) * n


def shard_tasks(tree):
    """Put a pytree whose leaves share a leading task axis across the local devices, split
    along that axis (left where it is when the axis does not divide evenly)."""
    import jax
    import numpy as np
    from jax.sharding import NamedSharding, PartitionSpec

    mesh = local_mesh("tasks")
    leaves = jax.tree.leaves(tree)
    if mesh is None or not leaves or np.shape(leaves[0])[0] % mesh.size:
        return tree
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec("tasks")))


def map_tasks(fn, task_batch: int | None = None):
    """fn(*args) mapped over the leading (task) axis of every argument, to be called inside
    jit: vmapped over all the tasks at once (task_batch None, what an accelerator wants), or
    run task_batch tasks at a time, one group after another, on each device's share of the
    tasks (`jax.lax.map`, split across the local devices by `shard_map`; the leading axis must
    then divide by the device count, as `round_up` makes it). Grouping keeps a group's learners
    (parameters, optimiser state) in the CPU's cache for a whole run instead of streaming every
    task's through memory at each step: on 2 CPU cores one-actor A2C histories ~3.2x faster at
    4 tasks a time, 100-actor ~1.4x at 1 (BENCHMARKS.md). The same bits either way."""
    import jax
    from jax.sharding import PartitionSpec

    if task_batch is None:
        return jax.vmap(fn)
    if task_batch < 1:
        raise ValueError(f"map_tasks: task_batch must be >= 1 or None, got {task_batch}")

    def grouped(*args):
        return jax.lax.map(lambda a: fn(*a), args, batch_size=task_batch)

    mesh = local_mesh("tasks")
    if mesh is None:
        return grouped
    # Each device's tasks are independent: no collective, so the check of which values vary
    # across devices (which would need the learners' constant initial carries marked) is off.
    spec = PartitionSpec("tasks")
    return lambda *args: jax.shard_map(grouped, mesh=mesh, in_specs=(spec,) * len(args),
                                       out_specs=spec, check_vma=False)(*args)


def replicate(tree):
    """A copy of `tree` on every local device (as is with one device): the shared operands
    (parameters, env params) of a call whose other inputs `shard_tasks` split. An array
    committed to one device (e.g. a restored checkpoint) beside sharded ones is an error in jit."""
    import jax
    from jax.sharding import NamedSharding, PartitionSpec

    mesh = local_mesh("tasks")
    if mesh is None or not jax.tree.leaves(tree):
        return tree
    return jax.device_put(tree, NamedSharding(mesh, PartitionSpec()))


if __name__ == "__main__":  # `python -m adjax.devices`: what every command will run on here
    import jax

    print(f"{jax.local_device_count()} {jax.default_backend()} device(s): {jax.devices()}")
