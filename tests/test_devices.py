"""adjax.devices: one CPU device per core; per-task stages give the same bits on any number of
devices, training on several devices is deterministic."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from adjax import devices, envs
from adjax.data import CollectSpec, collect, load
from adjax.evaluate.baselines import random_policy
from adjax.evaluate.results import over_tasks_and_seeds
from adjax.sources import a2c, qlearning

HERE = os.path.dirname(__file__)
CFG = qlearning.Config(num_episodes=6, num_streams=2, eps_decay_frac=0.5)
A2C = a2c.Config(num_actors=2, num_updates=3, hidden=(8,))
TASKS = np.array([[2, 2], [0, 0], [1, 2], [8, 0], [0, 8]], np.int32)

TWO_DEVICES = textwrap.dedent("""
    import sys
    from adjax.devices import use_cpu_cores
    assert use_cpu_cores() == 2
    import jax, numpy as np
    assert jax.local_device_count() == 2, jax.devices()
    from test_devices import collect_and_evaluate
    from test_train import MODEL, toy_arrays
    from adjax.train import TrainConfig, init_state, make_train_chunk
    from adjax.train.step import data_mesh, replicate, to_device
    np.save(sys.argv[2], collect_and_evaluate(sys.argv[1]))
    model = MODEL.__class__(**{**MODEL.to_dict(), "dropout": 0.1, "token_mask_prob": 0.3})
    train, mesh = TrainConfig(batch_size=16, warmup_steps=2, peak_lr=1e-2), data_mesh()
    chunk, data = make_train_chunk(model, train, mesh), to_device(toy_arrays(), mesh)
    runs = [chunk(replicate(init_state(model, train), mesh), data, 3) for _ in range(2)]
    same = jax.tree.map(lambda a, b: bool((np.asarray(a) == np.asarray(b)).all()), *runs)
    assert all(jax.tree.leaves(same)), "two-device training is not deterministic"
    print("TWO_DEVICES_OK")
""")


def collect_and_evaluate(out_dir, task_batch=2):
    """Q-learning histories of 5 tasks in chunks of 3 (padded to the devices); A2C histories of
    the same tasks run task_batch learners at a time on each device (`devices.map_tasks`); the
    random policy's returns on 5 tasks x 3 seeds in chunks of 5, all at once and task_batch at a
    time -> returns [2, 5, 3, E] (the datasets in out_dir/data, out_dir/a2c)."""
    collect(CollectSpec(CFG, "darkroom", tasks=TASKS), f"{out_dir}/data", chunk_size=3,
            progress=False, plot=False)
    collect(CollectSpec(A2C, "darkroom", tasks=TASKS), f"{out_dir}/a2c", chunk_size=3,
            task_batch=task_batch, progress=False, plot=False)
    env, params = envs.make("darkroom")
    fn = lambda a, k, p: random_policy(k, env, p, 2)
    return np.stack([over_tasks_and_seeds(fn, jax.random.key(0), env, params,
                                          jnp.asarray(TASKS), 3, batch_size=5, task_batch=tb)
                     for tb in (None, task_batch)])


def test_two_devices_give_single_device_bits(tmp_path):
    """Collection and evaluation split their chunks across 2 CPU devices (ADJAX_CPU_DEVICES=2 in
    a fresh process) and reproduce this process's single-device bits, also where the tasks run a
    few at a time on each device (task_batch), whose bits are those of all tasks at once."""
    assert jax.local_device_count() == 1
    env = {**os.environ, "ADJAX_CPU_DEVICES": "2", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": os.pathsep.join([HERE, os.path.join(HERE, "train")])}
    env.pop("XLA_FLAGS", None)
    r = subprocess.run([sys.executable, "-c", TWO_DEVICES, str(tmp_path / "two"),
                        str(tmp_path / "two.npy")], env=env, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0 and "TWO_DEVICES_OK" in r.stdout, r.stdout + r.stderr[-3000:]
    one = collect_and_evaluate(tmp_path / "one")
    np.testing.assert_array_equal(np.load(tmp_path / "two.npy"), one)
    np.testing.assert_array_equal(one[0], one[1])  # task_batch: the bits of all at once
    collect(CollectSpec(A2C, "darkroom", tasks=TASKS), tmp_path / "a2c_vmap", chunk_size=3,
            progress=False, plot=False)
    for kind, other in (("data", tmp_path / "two" / "data"), ("a2c", tmp_path / "two" / "a2c"),
                        ("a2c", tmp_path / "a2c_vmap")):
        a, b = load(tmp_path / "one" / kind), load(other)
        assert a.num_histories == len(TASKS) * 2  # 2 streams (Q-learning), 2 actors (A2C)
        for name in ("obs", "actions", "rewards"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=other)


def test_device_count_setting(monkeypatch):
    monkeypatch.setenv(devices.ENV_VAR, "3")
    assert devices.default_cpu_devices() == 3
    for bad in ("0", "two", "-1"):
        monkeypatch.setenv(devices.ENV_VAR, bad)
        with pytest.raises(ValueError, match=devices.ENV_VAR):
            devices.default_cpu_devices()
    monkeypatch.delenv(devices.ENV_VAR)
    for cores, want in ((1, 1), (2, 2), (3, 2), (6, 4), (12, 8), (64, 8)):
        monkeypatch.setattr(devices.os, "sched_getaffinity", lambda _, c=cores: set(range(c)))
        assert devices.default_cpu_devices() == want, cores
    # once JAX is running the setting cannot change: the count in use is returned
    jax.devices()
    assert devices.use_cpu_cores(2) == 1
    with pytest.raises(ValueError, match="num_devices"):
        devices.use_cpu_cores(0)


def test_single_device_helpers():
    """With one device nothing moves: no mesh, chunks keep their size, trees stay put."""
    assert devices.local_mesh("tasks") is None and devices.round_up(7) == 7
    tree = (jnp.arange(3), {"x": jnp.ones((3, 2))})
    assert devices.shard_tasks(tree) is tree
    with pytest.raises(ValueError, match="task_batch must be >= 1"):
        devices.map_tasks(jnp.sum, 0)
    with pytest.raises(ValueError, match="task_batch must be >= 1"):
        collect(CollectSpec(CFG, "darkroom", tasks=TASKS), "never-written", task_batch=0)
    assert not os.path.exists("never-written")


def test_commands_use_the_cores_despite_gymnax():
    """`python -m adjax.<command>` gets its CPU devices before anything imports gymnax (whose
    import computes an array and so fixes JAX's device count): the package sets them up."""
    env = {**os.environ, "ADJAX_CPU_DEVICES": "2", "JAX_PLATFORMS": "cpu"}
    env.pop("XLA_FLAGS", None)
    code = "import sys; sys.argv = ['-m']; import adjax.experiments.runner, jax; " \
           "print(jax.local_device_count())"
    for argv in (["-m", "adjax.devices"], ["-c", code]):
        r = subprocess.run([sys.executable, *argv], env=env, capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.split()[0] == "2", (argv, r.stdout)
    plain = subprocess.run([sys.executable, "-c", "import adjax.experiments.runner, jax; "
                            "print(jax.local_device_count())"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert plain.stdout.split()[0] == "1", plain.stdout + plain.stderr[-2000:]  # a library import


def test_cpu_name_is_in_every_run_record():
    """Runs record the CPU's model and vector unit (timings on two kinds are not comparable)."""
    from adjax.experiments.common import machine

    name = devices.cpu_name()
    assert name and name in machine()
    if Path("/proc/cpuinfo").exists() and " avx2 " in Path("/proc/cpuinfo").read_text():
        assert name.endswith(("AVX2", "AVX-512"))
