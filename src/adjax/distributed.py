"""Several processes of one JAX job (JAX's multi-controller runtime), and the few helpers the
commands need to share work between them.

A command joins a job when told how (checked in this order, before any JAX computation):
1. flags `--coordinator HOST:PORT --num-processes N --process-id I` on any `python -m adjax.<cmd>`
   (removed from the command line before the command parses it);
2. environment variables ADJAX_COORDINATOR, ADJAX_NUM_PROCESSES, ADJAX_PROCESS_ID (what
   `python -m adjax.launch` sets for each process it starts);
3. a multi-process SLURM step (`srun`), Open MPI (`mpirun`) or TPU pod detected from its
   environment: `jax.distributed.initialize()` finds the coordinator itself.
`ADJAX_DISTRIBUTED=off` ignores 3 (a one-task command inside a multi-task allocation). One
process (N = 1, or nothing asked) changes nothing: no runtime is started, the bits are those of
a plain single-process run. On CPU the cross-process collectives use gloo.

`adjax/__init__` calls `initialize_from_command_line` for `python -m adjax.<cmd>`; a script or
notebook calls `initialize()` itself before its first JAX computation.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence

import jax
import numpy as np

ENV_COORDINATOR = "ADJAX_COORDINATOR"
ENV_NUM_PROCESSES = "ADJAX_NUM_PROCESSES"
ENV_PROCESS_ID = "ADJAX_PROCESS_ID"
ENV_MODE = "ADJAX_DISTRIBUTED"  # "auto" (default): detect clusters; "off": never
FLAGS = {"--coordinator": "coordinator", "--num-processes": "num_processes",
         "--process-id": "process_id"}


@dataclasses.dataclass(frozen=True)
class Settings:
    """How to join: explicit (coordinator, num_processes, process_id) or, with `cluster` set,
    whatever `jax.distributed.initialize()` detects there."""

    coordinator: str | None = None
    num_processes: int | None = None
    process_id: int | None = None
    cluster: str | None = None


def pop_flags(argv: list[str]) -> dict[str, str]:
    """Remove `--coordinator`, `--num-processes`, `--process-id` (as `--flag V` or `--flag=V`)
    from argv in place -> {field: value}. Nothing after a `--` is looked at."""
    found, i = {}, 0
    while i < len(argv) and argv[i] != "--":
        name, eq, value = argv[i].partition("=")
        if name not in FLAGS:
            i += 1
            continue
        if not eq:
            if i + 1 >= len(argv):
                raise ValueError(f"{name} needs a value")
            value = argv[i + 1]
            del argv[i + 1]
        del argv[i]
        found[FLAGS[name]] = value
    return found


def _count(field: str, value, minimum: int) -> int:
    text = str(value).strip()
    if not text.lstrip("-").isdigit() or int(text) < minimum:
        raise ValueError(f"{field} must be an integer >= {minimum}, got {value!r}")
    return int(text)


def detected_cluster(environ: Mapping[str, str] = os.environ) -> str | None:
    """"slurm", "openmpi" or "tpu" when the environment is one process of a multi-process job
    there (a step of several SLURM tasks, mpirun with several ranks, a multi-host TPU slice)."""
    def more_than_one(var):
        v = environ.get(var, "")
        return v.isdigit() and int(v) > 1

    if "SLURM_JOB_ID" in environ and "SLURM_STEP_NODELIST" in environ and more_than_one(
            "SLURM_NTASKS"):
        return "slurm"
    if "OMPI_MCA_orte_hnp_uri" in environ and more_than_one("OMPI_COMM_WORLD_SIZE"):
        return "openmpi"
    if len([h for h in environ.get("TPU_WORKER_HOSTNAMES", "").split(",") if h]) > 1:
        return "tpu"
    return None


def settings(flags: Mapping[str, str] | None = None,
             environ: Mapping[str, str] = os.environ) -> Settings | None:
    """What to join (None: run as one process). Flags win over environment variables, which
    win over a detected cluster; an incomplete or malformed request is a ValueError naming the
    flag or variable."""
    flags = dict(flags or {})
    names = {"coordinator": ENV_COORDINATOR, "num_processes": ENV_NUM_PROCESSES,
             "process_id": ENV_PROCESS_ID}
    given = {f: (flags[f], "--" + f.replace("_", "-")) if f in flags
             else (environ[v], v) for f, v in names.items() if f in flags or environ.get(v)}
    if given:
        missing = [f"{'--' + f.replace('_', '-')} (or {names[f]})" for f in names
                   if f not in given]
        if missing:
            raise ValueError(f"joining a multi-process job needs {', '.join(missing)} as well as "
                             f"{', '.join(src for _, src in given.values())}")
        n = _count(given["num_processes"][1], given["num_processes"][0], 1)
        i = _count(given["process_id"][1], given["process_id"][0], 0)
        if i >= n:
            raise ValueError(f"{given['process_id'][1]} {i} is not below the number of "
                             f"processes {n}")
        host, _, port = given["coordinator"][0].rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{given['coordinator'][1]} must be HOST:PORT, got "
                             f"{given['coordinator'][0]!r}")
        return None if n == 1 else Settings(given["coordinator"][0], n, i)
    mode = environ.get(ENV_MODE, "auto").strip().lower()
    if mode not in ("auto", "off"):
        raise ValueError(f"{ENV_MODE} must be auto or off, got {environ[ENV_MODE]!r}")
    cluster = detected_cluster(environ) if mode == "auto" else None
    return Settings(cluster=cluster) if cluster else None


def initialize(coordinator: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, environ: Mapping[str, str] = os.environ) -> bool:
    """Join the job described by the arguments, else by the environment (module docstring).
    Call before any JAX computation. Returns whether a multi-process runtime is running."""
    flags = {k: str(v) for k, v in (("coordinator", coordinator),
                                    ("num_processes", num_processes),
                                    ("process_id", process_id)) if v is not None}
    return _start(settings(flags, environ))


def _start(s: Settings | None) -> bool:
    if s is None:
        return False
    if jax.distributed.is_initialized():
        return True
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    if s.cluster:
        jax.distributed.initialize()
    else:
        jax.distributed.initialize(coordinator_address=s.coordinator,
                                   num_processes=s.num_processes, process_id=s.process_id)
    return True


def initialize_from_command_line(argv: list[str]) -> bool:
    """For `python -m adjax.<cmd>`: take the flags out of argv, join the job they (or the
    environment) describe; a bad request ends the process with one line and status 2."""
    try:
        return _start(settings(pop_flags(argv)))
    except ValueError as e:
        import sys

        print(f"adjax: error: {e}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def process_count() -> int:
    return jax.process_count()


def process_index() -> int:
    return jax.process_index()


def is_main() -> bool:
    """The process that writes files other than orbax checkpoints (process 0)."""
    return jax.process_index() == 0


_barriers = [0]  # barriers passed by this process: every process passes them in one order


def barrier(name: str, timeout_s: float = 24 * 3600) -> None:
    """Wait until every process reaches `name` (nothing with one process). Through the
    coordination service, so a long wait (another process still collecting) costs no device
    collective and no gloo timeout."""
    if jax.process_count() == 1:
        return
    _barriers[0] += 1
    name = f"{name}#{_barriers[0]}"
    from jax._src import distributed as _dist

    client = _dist.global_state.client
    if client is None:  # runtime started by other means: a device collective instead
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)
        return
    client.wait_at_barrier(name, int(timeout_s * 1000))


def my_share(n: int) -> list[int]:
    """The items 0..n-1 this process handles: every process_count()-th, from its index (all
    of them with one process)."""
    return list(range(jax.process_index(), n, jax.process_count()))


def gather_shares(local: Sequence[np.ndarray], n: int, like) -> list[np.ndarray]:
    """Every process's `my_share(n)` results (arrays of the shape and dtype of `like`) -> all n,
    in order, on every process. With one process, `local` itself."""
    P = jax.process_count()
    if P == 1:
        return list(local)
    from jax.experimental import multihost_utils

    per = -(-n // P)
    pad = [np.zeros(like.shape, like.dtype)] * (per - len(local))
    stacked = np.stack([*local, *pad])  # [per, ...]
    every = np.asarray(multihost_utils.process_allgather(stacked))  # [P, per, ...]
    return [every[i % P, i // P] for i in range(n)]
