"""adjax.distributed and adjax.launch: several processes of one JAX job on this CPU (gloo).

Un-slow: how a command is told to join (flags, variables, clusters) and its errors, the launcher
(prefixed output, one failure stops all, a one-line error naming the process), a real 2-process
job, and sharded windows equal to one device's. Slow: 2 processes x 1 device train the bits of 1
process x 2 devices, a 2-process run killed mid-training resumes on 1 process and on 2 with the
uninterrupted run's bits, and collection and evaluation with 2 processes write the bytes of 1.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import jax
import numpy as np
import pytest

from adjax import distributed

PY = sys.executable
LAUNCH = [PY, "-m", "adjax.launch"]


def run(cmd, env=None, timeout=600, **kw):
    env = {**os.environ, "JAX_PLATFORMS": "cpu", "TQDM_DISABLE": "1", **(env or {})}
    env.pop("XLA_FLAGS", None)
    for var in (distributed.ENV_COORDINATOR, distributed.ENV_NUM_PROCESSES,
                distributed.ENV_PROCESS_ID):
        env.pop(var, None)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, **kw)


def ok(r):
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    return r


# --- joining a job ------------------------------------------------------------------------------

def test_flags_are_taken_out_of_the_command_line():
    argv = ["-m", "--data", "d", "--coordinator", "h:1", "--num-processes=2", "--process-id", "1",
            "--out", "o", "--", "--process-id", "9"]
    assert distributed.pop_flags(argv) == {"coordinator": "h:1", "num_processes": "2",
                                           "process_id": "1"}
    assert argv == ["-m", "--data", "d", "--out", "o", "--", "--process-id", "9"]
    with pytest.raises(ValueError, match="--process-id needs a value"):
        distributed.pop_flags(["--process-id"])


def test_settings_flags_then_variables_then_clusters():
    env = {"ADJAX_COORDINATOR": "10.0.0.1:1234", "ADJAX_NUM_PROCESSES": "4",
           "ADJAX_PROCESS_ID": "3"}
    assert distributed.settings({}, env) == distributed.Settings("10.0.0.1:1234", 4, 3)
    assert distributed.settings({"process_id": "0"}, env).process_id == 0  # a flag wins
    assert distributed.settings({}, {**env, "ADJAX_NUM_PROCESSES": "1",
                                     "ADJAX_PROCESS_ID": "0"}) is None  # one process: no job
    assert distributed.settings({}, {}) is None
    slurm = {"SLURM_JOB_ID": "7", "SLURM_STEP_NODELIST": "n[1-2]", "SLURM_NTASKS": "2"}
    assert distributed.settings({}, slurm) == distributed.Settings(cluster="slurm")
    assert distributed.settings({}, {**slurm, "SLURM_NTASKS": "1"}) is None
    assert distributed.settings({}, {**slurm, "ADJAX_DISTRIBUTED": "off"}) is None
    assert distributed.detected_cluster({"OMPI_MCA_orte_hnp_uri": "x",
                                         "OMPI_COMM_WORLD_SIZE": "2"}) == "openmpi"
    assert distributed.detected_cluster({"TPU_WORKER_HOSTNAMES": "a,b"}) == "tpu"
    assert distributed.detected_cluster({"TPU_WORKER_HOSTNAMES": "a"}) is None
    for bad, match in (({**env, "ADJAX_PROCESS_ID": "4"}, "ADJAX_PROCESS_ID 4 is not below"),
                       ({**env, "ADJAX_NUM_PROCESSES": "two"}, "ADJAX_NUM_PROCESSES must be"),
                       ({**env, "ADJAX_COORDINATOR": "nohost"}, "ADJAX_COORDINATOR must be HOST"),
                       ({"ADJAX_NUM_PROCESSES": "2"}, "needs --coordinator"),
                       ({"ADJAX_DISTRIBUTED": "maybe"}, "ADJAX_DISTRIBUTED must be")):
        with pytest.raises(ValueError, match=match):
            distributed.settings({}, bad)


def test_a_bad_request_is_one_line_before_any_work():
    r = run([PY, "-m", "adjax.devices", "--num-processes", "2", "--process-id", "0"], timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(
        "adjax: error: joining a multi-process job needs --coordinator"), r.stderr


def test_read_rows_copies_rows_of_memory_maps_and_arrays(tmp_path):
    from adjax.train.windows import read_rows

    x = np.arange(5 * 3 * 2, dtype=np.int16).reshape(5, 3, 2)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    for src in (mm, mm[1:], x):  # a whole-file map (read from the file), a slice, an array
        np.testing.assert_array_equal(read_rows(src, 1, 3), np.asarray(src)[1:3])
    out = np.zeros((4, 3, 2), np.int16)
    read_rows(mm, 3, 5, out[:2])
    np.testing.assert_array_equal(out, np.concatenate([x[3:5], np.zeros((2, 3, 2), np.int16)]))


# --- the launcher -------------------------------------------------------------------------------

def test_launcher_prefixes_output_and_stops_all_when_one_fails():
    script = ('echo "hello $ADJAX_PROCESS_ID/$ADJAX_NUM_PROCESSES $ADJAX_CPU_DEVICES"; '
              'if [ "$ADJAX_PROCESS_ID" = 1 ]; then exit 3; fi; sleep 60')
    t = time.monotonic()
    r = run([*LAUNCH, "--processes", "2", "--grace", "2", "--", "sh", "-c", script], timeout=120)
    assert time.monotonic() - t < 40  # process 0 (sleeping 60 s) was stopped
    assert r.returncode == 3, r.stdout + r.stderr
    assert "[p0] hello 0/2 1" in r.stdout and "[p1] hello 1/2 1" in r.stdout, r.stdout
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("python -m adjax.launch: error: process 1 of 2 (pid "), last
    assert "exited with status 3; stopped the others" in last, last
    for argv, match in ((["--processes", "0", "--", "true"], "--processes must be >= 1"),
                        (["--processes", "2", "true"], "put the command after --")):
        r = run([*LAUNCH, *argv], timeout=120)
        assert r.returncode == 2 and match in r.stderr, r.stderr


def test_launcher_kills_what_ignores_a_forwarded_signal():
    # processes that trap SIGTERM, as one blocked in a collective in effect does
    script = 'trap "" TERM; echo ready; sleep 60 & wait; sleep 60'
    t = time.monotonic()
    p = subprocess.Popen([*LAUNCH, "--processes", "2", "--grace", "1", "--", "sh", "-c", script],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert {p.stdout.readline().strip() for _ in range(2)} == {"[p0] ready", "[p1] ready"}
    p.send_signal(signal.SIGTERM)
    out, err = p.communicate(timeout=60)
    assert time.monotonic() - t < 40, "the launcher waited for processes that ignore SIGTERM"
    last = err.strip().splitlines()[-1]
    assert "was killed by signal 9 after SIGTERM; stopped the others" in last, err
    assert p.returncode == 128 + 9, p.returncode


def test_two_processes_form_one_job():
    """Two launched processes see each other's devices, and a jitted sum over a batch assembled
    from both processes' rows is the same in each."""
    code = textwrap.dedent("""
        import adjax.distributed as d, jax, numpy as np
        assert d.initialize() and jax.process_count() == 2
        from jax.sharding import NamedSharding, PartitionSpec as P
        mesh = jax.make_mesh((2,), ("data",), devices=jax.devices())
        rows = np.arange(3.0) + 10 * jax.process_index()
        x = jax.make_array_from_process_local_data(NamedSharding(mesh, P("data")), rows)
        total = jax.jit(lambda x: x.sum(), out_shardings=NamedSharding(mesh, P()))(x)
        shares = d.gather_shares([np.full(2, i, np.int32) for i in d.my_share(3)], 3,
                                 np.zeros(2, np.int32))
        print("JOB", jax.process_index(), len(jax.devices()), float(total),
              [int(s[0]) for s in shares])
    """)
    r = ok(run([*LAUNCH, "--processes", "2", "--", PY, "-c", code], timeout=300))
    for i in range(2):
        assert f"[p{i}] JOB {i} 2 36.0 [0, 1, 2]" in r.stdout, r.stdout


SHARDED_WINDOWS = textwrap.dedent("""
    import jax, numpy as np
    from jax.sharding import NamedSharding, PartitionSpec as P
    assert jax.local_device_count() == 4
    from adjax.train import Arrays, sample_batch
    from adjax.train.step import data_mesh, local_rows, sharded_windows, to_device
    from adjax.train.windows import sample_indices
    rng = np.random.default_rng(0)
    for H in (3, 9):  # fewer histories than devices; uneven shards
        T, c, A = 30, 7, 4
        arrays = Arrays(rng.integers(0, 9, (H, T, 2)).astype(np.int8),
                        rng.integers(0, A, (H, T)).astype(np.uint8),
                        rng.integers(0, 3, (H, T)).astype(np.float16), 5)
        mesh = data_mesh(4)
        assert local_rows(H, mesh) == (0, H) and local_rows(H, None) == (0, H)
        data = to_device(arrays, mesh)
        assert data.num_histories == H and data.actions.shape[0] == 4 * -(-H // 4)
        key = jax.random.key(H)
        ref = sample_batch(key, to_device(arrays, None), 16, c, A, 2)
        h_B, s_B = sample_indices(key, H, T, 16, c, 2)
        got = jax.jit(lambda d, h, s: sharded_windows(mesh, d, h, s, c, A))(data, h_B, s_B)
        assert got.targets.sharding.spec == P("data"), got.targets.sharding
        jax.tree.map(np.testing.assert_array_equal, ref, jax.device_get(got))
    print("WINDOWS_OK")
""")


SHARDED_RENDERED = textwrap.dedent("""
    import jax, numpy as np
    from adjax.data.dataset import StateRenderer
    from adjax.train import Arrays, sample_batch
    from adjax.train.step import data_mesh, sharded_windows, to_device
    from adjax.train.windows import sample_indices
    assert jax.local_device_count() == 2
    render = StateRenderer("watermaze", (("height", 6), ("width", 8)))
    rng = np.random.default_rng(0)
    H, T, c, A = 5, 24, 6, 8
    state = np.concatenate([rng.uniform(-0.9, 0.9, (H, T, 2)), rng.uniform(-3, 3, (H, T, 1))],
                           -1).astype(np.float32)
    arrays = Arrays(state, rng.integers(0, A, (H, T)).astype(np.uint8),
                    rng.integers(0, 2, (H, T)).astype(np.float16), 6, render=render)
    key = jax.random.key(1)
    ref = sample_batch(key, to_device(arrays, None), 8, c, A)
    h_B, s_B = sample_indices(key, H, T, 8, c)
    mesh = data_mesh(2)
    got = jax.jit(lambda d, h, s: sharded_windows(mesh, d, h, s, c, A))(
        to_device(arrays, mesh), h_B, s_B)
    assert ref.inputs.obs.shape == (8, c, 6, 8, 3) and ref.inputs.obs.dtype == np.uint8
    jax.tree.map(np.testing.assert_array_equal, ref, jax.device_get(got))
    print("RENDERED_OK")
""")


@pytest.mark.slow  # ~12 s alone; the sharded and the rendered paths are each tested un-slow
def test_sharded_windows_of_a_state_dataset_are_rendered_as_on_one_device():
    """A Watermaze state dataset split over 2 devices: each device renders the windows of its
    own histories, and the batch is the single-device rendered batch, bit for bit."""
    code = "from adjax.devices import use_cpu_cores\nuse_cpu_cores(2)\n" + SHARDED_RENDERED
    r = ok(run([PY, "-c", code], timeout=300))
    assert "RENDERED_OK" in r.stdout


def test_sharded_windows_are_the_single_device_batch():
    """Histories split over 4 devices (each holding its block only): the windows of a step are
    sample_batch's on all the histories, bit for bit."""
    code = "from adjax.devices import use_cpu_cores\nuse_cpu_cores(4)\n" + SHARDED_WINDOWS
    r = ok(run([PY, "-c", code], timeout=300))
    assert "WINDOWS_OK" in r.stdout


# --- whole commands on 2 processes (slow) -------------------------------------------------------

COLLECT = ["-m", "adjax.data", "collect", "--source", "qlearning", "--set", "num_episodes=6",
           "num_streams=2", "--env", "darkroom", "--num-tasks", "5", "--chunk-size", "2"]
TRAIN = ["--model", "tiny", "--context-len", "40", "--train.batch-size", "8",
         "--train.num-steps", "40", "--train.warmup-steps", "2", "--train.log-every", "5",
         "--train.ckpt-every", "10", "--train.steps-per-call", "5"]
EVAL = ["--episodes", "3", "--seeds", "2", "--tasks", "3", "--batch-size", "2", "--baselines",
        "random"]


def launch2(*argv, **kw):
    return ok(run([*LAUNCH, "--processes", "2", "--", PY, *argv], **kw))


def params_of(run_dir):
    from adjax.train import load_run

    return jax.tree.map(np.asarray, load_run(run_dir)[1])


def same_bits(a, b) -> bool:
    return all(jax.tree.leaves(jax.tree.map(lambda x, y: bool((x == y).all()), a, b)))


def curve(run_dir):
    rows = [json.loads(ln) for ln in (run_dir / "metrics.jsonl").read_text().splitlines()]
    return [(r["step"], r["loss"], r["accuracy"], r["grad_norm"]) for r in rows]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """One dataset collected by 1 process and by 2: (path of the first, path of the second)."""
    tmp = tmp_path_factory.mktemp("dist")
    ok(run([PY, *COLLECT, "--out", str(tmp / "one")]))
    launch2(*COLLECT, "--out", str(tmp / "two"))
    return tmp / "one", tmp / "two"


@pytest.mark.slow
def test_collection_on_two_processes_writes_the_same_bytes(data):
    one, two = data
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in two.iterdir()) and "manifest.json" in names
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes(), name
    assert not list(two.parent.glob(".two.tmp-*"))  # staging removed


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """The same run trained by 2 processes x 1 device and by 1 process x 2 devices."""
    tmp = tmp_path_factory.mktemp("runs")
    launch2("-m", "adjax.train", "--data", str(data[0]), "--out", str(tmp / "p2"), *TRAIN)
    ok(run([PY, "-m", "adjax.train", "--data", str(data[0]), "--out", str(tmp / "d2"), *TRAIN],
           env={"ADJAX_CPU_DEVICES": "2"}))
    return tmp


@pytest.mark.slow
def test_two_processes_train_the_bits_of_two_devices(runs):
    """2 processes x 1 device and 1 process x 2 devices: the same global batch every step (the
    windows do not depend on where the histories live), so the same loss curve and parameters."""
    assert [r[0] for r in curve(runs / "p2")] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert curve(runs / "p2") == curve(runs / "d2")
    assert same_bits(params_of(runs / "p2"), params_of(runs / "d2"))
    # process 0 alone wrote the run's own files; both wrote their checkpoint shards
    assert json.loads((runs / "p2" / "checkpoints.sha256.json").read_text()).keys() == {"30", "40"}
    assert (runs / "p2" / "checkpoints" / "40" / "default" / "ocdbt.process_1").is_dir()


KILLED = textwrap.dedent("""
    import importlib, os, signal, sys
    import adjax.devices, adjax.distributed
    adjax.devices.use_cpu_cores()
    assert adjax.distributed.initialize()
    import jax, tyro
    fit = importlib.import_module("adjax.train.fit")  # the module, not adjax.train's fit
    from adjax.train.__main__ import Args, main
    record = fit.record_checksums

    def record_then_die(mgr, run_dir, saved=None):
        record(mgr, run_dir, saved)
        if saved == 20 and jax.process_index() == 1:  # killed between two training calls
            os.kill(os.getpid(), signal.SIGKILL)

    fit.record_checksums = record_then_die
    main(tyro.cli(Args, args=sys.argv[1:]))
""")


@pytest.mark.slow
def test_killed_two_process_run_resumes_on_one_process_and_on_two(data, runs, tmp_path):
    killed = tmp_path / "killed"
    r = run([*LAUNCH, "--processes", "2", "--", PY, "-c", KILLED, "--data", str(data[0]),
             "--out", str(killed), *TRAIN])
    assert r.returncode == 128 + 9, r.stdout[-2000:] + r.stderr[-2000:]
    assert "process 1 of 2" in r.stderr and "killed by signal 9" in r.stderr, r.stderr[-2000:]
    from adjax.checkpoints import checkpoint_manager

    mgr = checkpoint_manager(killed)
    assert mgr.latest_step() in (10, 20), mgr.all_steps()  # 20 unless killed while finalising
    mgr.close()
    shutil.copytree(killed, tmp_path / "again")
    want = params_of(runs / "p2")
    # on 2 processes: the uninterrupted run's bits
    launch2("-m", "adjax.train", "--data", str(data[0]), "--out", str(killed), *TRAIN)
    assert curve(killed) == curve(runs / "p2")
    assert same_bits(params_of(killed), want)
    # on 1 process (with 2 devices): the same bits again
    ok(run([PY, "-m", "adjax.train", "--data", str(data[0]), "--out", str(tmp_path / "again"),
            *TRAIN], env={"ADJAX_CPU_DEVICES": "2"}))
    assert same_bits(params_of(tmp_path / "again"), want)


@pytest.mark.slow
def test_evaluation_on_two_processes_writes_the_same_result(runs, tmp_path):
    ok(run([PY, "-m", "adjax.evaluate", str(runs / "p2"), *EVAL, "--out",
            str(tmp_path / "one.json")]))
    launch2("-m", "adjax.evaluate", str(runs / "p2"), *EVAL, "--out", str(tmp_path / "two.json"))
    one, two = (tmp_path / "one.json").read_bytes(), (tmp_path / "two.json").read_bytes()
    assert one == two and len(json.loads(one)["splits"]["test"]["curves"]) == 2


@pytest.mark.slow
def test_an_experiment_on_two_processes_reports_what_two_devices_do(tmp_path):
    """The Dark Room command (tiny preset) as 2 processes x 1 device: process 0 alone writes
    the experiment's files, and its curves equal 1 process x 2 devices'."""
    exp = ["-m", "adjax.experiments.darkroom", "--preset", "tiny"]
    ok(run([PY, *exp, "--out", str(tmp_path / "d2")], env={"ADJAX_CPU_DEVICES": "2"}))
    launch2(*exp, "--out", str(tmp_path / "p2"))
    from adjax.atomic import read_json

    one, two = (read_json(tmp_path / d / "results.json") for d in ("d2", "p2"))
    assert two["curves"] == one["curves"] and two["summary"] == one["summary"]
    assert two["machine"].endswith("on 2 processes x 1 cpu device(s)")
    assert not (tmp_path / "p2" / ".lock").exists()  # released by process 0, never taken by 1
