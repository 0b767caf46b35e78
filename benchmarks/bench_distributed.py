"""Training on several processes of one JAX job (`adjax.launch`): host memory per process for
the dataset, and training throughput, 1 process vs 2 local processes."""

import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# The Dark Room quick preset's dataset: 57 training goals x 16 streams, 60 episodes of 20 steps.
QUICK_HISTORIES, QUICK_STEPS = 57 * 16, 60 * 20
SCALE = 4  # the issue's "4x larger than the quick presets'"
ROOT = Path(__file__).resolve().parent.parent


def rss_mib() -> tuple[float, float]:
    """(resident, peak resident) MiB of this process, from /proc/self/status, after handing
    freed heap back to the system (glibc keeps freed blocks of up to 32 MiB otherwise)."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass
    fields = dict(ln.split(":", 1) for ln in Path("/proc/self/status").read_text().splitlines()
                  if ":" in ln)
    return tuple(int(fields[k].split()[0]) / 1024 for k in ("VmRSS", "VmHWM"))


def write_dataset(directory: Path, histories: int, steps: int) -> None:
    """Random Dark Room-shaped histories as .npy files (the dataset's dtypes)."""
    rng = np.random.default_rng(0)
    for name, arr in (("obs", rng.integers(0, 9, (histories, steps, 2), dtype=np.int8)),
                      ("actions", rng.integers(0, 5, (histories, steps), dtype=np.uint8)),
                      ("rewards", rng.integers(0, 2, (histories, steps)).astype(np.float16))):
        np.save(directory / f"{name}.npy", arr)


def worker(directory: str, batch: int, steps_per_call: int, calls: int) -> None:
    """One process of the measured job: what `fit` does before and while it trains, timed."""
    from adjax import devices, distributed

    devices.use_cpu_cores()
    distributed.initialize()
    import jax

    from adjax.model import cpu_model
    from adjax.train import Arrays, TrainConfig, init_state, make_train_chunk
    from adjax.train.fit import check_data
    from adjax.train.step import data_mesh, local_rows, replicate, to_device

    d = Path(directory)
    arrays = Arrays(*(np.load(d / f"{n}.npy", mmap_mode="r") for n in
                      ("obs", "actions", "rewards")), episode_len=20)
    model = cpu_model((9, 9), 5, 80)
    train = TrainConfig(batch_size=batch, steps_per_call=steps_per_call)
    mesh = data_mesh()
    n = jax.device_count()  # first the code paths, on n histories: their cost is not the data's
    jax.block_until_ready(to_device(Arrays(*(np.asarray(x[:n]) for x in (
        arrays.obs, arrays.actions, arrays.rewards)), episode_len=20), mesh))
    rss0, _ = rss_mib()
    check_data(arrays, model, train, local_rows(arrays.num_histories, mesh))
    data = to_device(arrays, mesh)
    if mesh is None:  # one device's array may be the memory map itself (no copy), whose pages
        for x in (arrays.obs, arrays.actions, arrays.rewards):  # count once read, as a long
            np.asarray(x).max()  # run reads them all; with a mesh they are copies, all resident
    rss1, _ = rss_mib()
    chunk = make_train_chunk(model, train, mesh)
    state = replicate(init_state(model, train), mesh) if mesh is not None else init_state(
        model, train)
    state, m = chunk(state, data, steps_per_call)
    np.asarray(m["loss"])
    t = time.perf_counter()
    for _ in range(calls):
        state, m = chunk(state, data, steps_per_call)
        np.asarray(m["loss"])
    step_s = (time.perf_counter() - t) / (calls * steps_per_call)
    print("RESULT " + json.dumps({
        "process": jax.process_index(), "processes": jax.process_count(),
        "devices": jax.device_count(), "dataset_mib": rss1 - rss0, "peak_rss_mib": rss_mib()[1],
        "step_s": step_s, "tokens_per_s": batch * model.max_tokens / step_s}), flush=True)


def measure(directory: Path, processes: int, devices: int, batch: int, spc: int,
            calls: int) -> list[dict]:
    cmd = [sys.executable, "-m", "benchmarks.bench_distributed", "--worker", str(directory),
           str(batch), str(spc), str(calls)]
    env = {**os.environ, "ADJAX_CPU_DEVICES": str(devices), "TQDM_DISABLE": "1"}
    if processes > 1:
        cmd = [sys.executable, "-m", "adjax.launch", "--processes", str(processes), "--", *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    if out.returncode:
        raise RuntimeError(f"{' '.join(cmd)} failed: {out.stderr[-2000:]}")
    return sorted((json.loads(ln.split("RESULT ", 1)[1]) for ln in out.stdout.splitlines()
                   if "RESULT " in ln), key=lambda r: r["process"])


def run(quick: bool = False) -> dict:
    H, T = SCALE * QUICK_HISTORIES, QUICK_STEPS
    if quick:
        H, T = H // 8, T // 4
    batch, spc, calls = (16, 1, 1) if quick else (64, 2, 2)
    cases = (("1 process x 1 device", 1, 1), ("1 process x 2 devices", 1, 2),
             ("2 processes x 1 device", 2, 1))
    results = {"histories": H, "history_len": T, "batch": batch}
    with tempfile.TemporaryDirectory() as tmp:
        write_dataset(Path(tmp), H, T)
        size = sum(f.stat().st_size for f in Path(tmp).iterdir()) / 2**20
        results["dataset_mib"] = size
        rows = []
        for name, p, d in cases:
            r = measure(Path(tmp), p, d, batch, spc, calls)
            results[name] = r
            mem = max(x["dataset_mib"] for x in r)
            rows.append(f"| {name} | {mem:.1f} | {max(x['peak_rss_mib'] for x in r):.0f} | "
                        f"{r[0]['step_s']:.3f} | {r[0]['tokens_per_s']:,.0f} |")
    one = max(x["dataset_mib"] for x in results["1 process x 1 device"])
    two = max(x["dataset_mib"] for x in results["2 processes x 1 device"])
    one_2d = max(x["dataset_mib"] for x in results["1 process x 2 devices"])
    results["dataset_memory_ratio"] = two / one
    speed = (results["2 processes x 1 device"][0]["tokens_per_s"]
             / results["1 process x 2 devices"][0]["tokens_per_s"])
    results["throughput_ratio_2p_vs_1p2d"] = speed
    md = (f"Training with `python -m adjax.launch`: a dataset {SCALE}x the Dark Room quick "
          f"preset's ({H} histories x {T} steps, {size:.1f} MiB on disk, memory-mapped), the cpu "
          f"model (context 80 steps), batch {batch} split over every device of the job. "
          "`dataset MiB`: a process's resident memory after it checked its histories and put "
          "them on its devices, minus before (the largest over processes; on one device the "
          "device array may be the memory map itself, whose pages count once read: all are "
          "read once first, as a long run does); `peak MiB`: its peak resident memory (JAX "
          "and the compiled step included).\n\n"
          "| job | dataset MiB per process | peak MiB per process | s/step | tokens/s |\n"
          "|---|---|---|---|---|\n" + "\n".join(rows) + "\n\n"
          f"Dataset memory per process with 2 processes: {100 * two / one:.0f}% of one "
          f"process's with 1 device, {100 * two / one_2d:.0f}% of one process's with 2 devices "
          f"(target <= 60%). Throughput of 2 processes x 1 device over 1 process x "
          f"2 devices (the same cores, the same global batch and bits): {speed:.2f}x.\n")
    return {"title": "Training on several processes (adjax.launch)", "markdown": md,
            "results": results}


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        worker(sys.argv[2], *map(int, sys.argv[3:6]))
    else:
        print(run(quick="--quick" in sys.argv)["markdown"])
