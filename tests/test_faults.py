"""Real faults, the fast subset of `make faults`: a SIGKILL in collection and the rerun, two
writers (a live lock refused at once, a dead one taken over), corrupted checkpoints, metrics,
results JSON and dataset arrays, a full disk, and hostile inputs. The whole set: adjax.faults."""

import json
import os
import subprocess
import sys
import textwrap
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from adjax import faults
from adjax.checkpoints import UnreadableCheckpoint
from adjax.lock import DirLock, LockedError, dataset_lock
from adjax.model import ModelConfig
from adjax.train import Arrays, RunConfigError, TrainConfig, fit, load_run

SRC = str(Path(faults.__file__).resolve().parents[1])
MODEL = ModelConfig(obs_dims=(3, 3), num_actions=3, context_len=10, d_model=16, num_layers=1,
                    num_heads=2, ff_dim=32, dropout=0.0, attn_dropout=0.0, token_mask_prob=0.0)
TRAIN = TrainConfig(batch_size=8, num_steps=8, warmup_steps=2, log_every=2, ckpt_every=4,
                    steps_per_call=2)


def toy_arrays() -> Arrays:
    rng = np.random.default_rng(0)
    obs = rng.integers(0, 3, (4, 40, 2)).astype(np.int8)
    return Arrays(obs, ((obs[..., 0] + obs[..., 1]) % 3).astype(np.uint8),
                  rng.integers(0, 2, (4, 40)).astype(np.float16), episode_len=5, env_name="toy")


def _holder(lock_file: Path) -> subprocess.Popen:
    """Another process holding the lock of `lock_file` until killed."""
    code = textwrap.dedent(f"""
        import sys, time
        from adjax.lock import DirLock
        with DirLock({str(lock_file)!r}):
            print("held", flush=True)
            time.sleep(120)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONPATH": SRC})
    assert p.stdout.readline().strip() == "held"
    return p


def test_second_writer_refused_at_once_and_stale_lock_taken_over(tmp_path):
    run_dir = tmp_path / "run"
    p = _holder(run_dir / ".lock")
    try:
        t0 = time.perf_counter()
        with pytest.raises(LockedError, match=rf"run.\.lock: run directory is being written by "
                                              rf"another process \(pid {p.pid} on host "):
            fit(TRAIN, MODEL, toy_arrays(), run_dir, progress=False)
        assert time.perf_counter() - t0 < 5  # at once, before any compute
        assert sorted(os.listdir(run_dir)) == [".lock"]  # nothing written
    finally:
        p.kill()
        p.wait()
    with pytest.warns(UserWarning, match=rf"stale lock of pid {p.pid} .*no longer running"):
        with DirLock(run_dir / ".lock"):
            pass
    assert not (run_dir / ".lock").exists()  # released cleanly: removed, not stale again
    with DirLock(run_dir / ".lock"):
        assert json.loads((run_dir / ".lock").read_text())["pid"] == os.getpid()
    assert not (run_dir / ".lock").exists()


def test_collect_refuses_a_dataset_being_written(tmp_path):
    from adjax.data import CollectSpec, collect
    from adjax.sources import qlearning

    out = tmp_path / "data"
    with dataset_lock(out):  # this process writes it: a second writer (the same call) refused
        with pytest.raises(LockedError, match=r"\.data\.lock: dataset is being written"):
            collect(CollectSpec(qlearning.Config(num_episodes=2), "darkroom", task_indices=[0]),
                    out, progress=False)
        assert sorted(os.listdir(tmp_path)) == [".data.lock"]  # no staging directory
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "run"
    params = fit(TRAIN, MODEL, toy_arrays(), run_dir, progress=False)
    return run_dir, params


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    (dst / ".lock").unlink(missing_ok=True)
    return dst


def _leaves(params):
    import jax

    return [np.asarray(x).tobytes() for x in jax.tree.leaves(params)]


def _flip(f: Path, at: float = 0.5) -> None:
    b = bytearray(f.read_bytes())
    b[int(len(b) * at)] ^= 0x10
    f.write_bytes(bytes(b))


def test_bit_flipped_checkpoint_named_then_previous_used(trained, tmp_path):
    run_dir = _copy(trained[0], tmp_path / "run")
    sums = json.loads((run_dir / "checkpoints.sha256.json").read_text())
    assert sorted(sums) == ["4", "8"]
    name = max(sums["8"], key=lambda n: (run_dir / "checkpoints" / "8" / n).stat().st_size)
    _flip(run_dir / "checkpoints" / "8" / name)
    with pytest.raises(RunConfigError, match=rf"checkpoints.8.{name}: sha256 mismatch"):
        load_run(run_dir)  # evaluation: an error naming the file, never another step
    with pytest.warns(UserWarning, match=rf"8.{name}: sha256 mismatch.*previous checkpoint"):
        params = fit(TRAIN, MODEL, toy_arrays(), run_dir, progress=False)
    assert _leaves(params) == _leaves(trained[1])  # steps 5-8 redone: the same bits
    assert list((run_dir / "corrupt").iterdir())  # the damaged one kept aside, not deleted


@pytest.mark.parametrize("damage", ["truncated", "missing", "metadata"])
def test_damaged_checkpoint_without_a_checksum_record(trained, tmp_path, damage):
    """Killed between a save and its checksum record, the checkpoint's array files (every one:
    which file holds which array varies from run to run) or its metadata damaged: its recorded
    shapes are not read or fit the model, so it is damage. Loading refuses it, naming it;
    training moves it aside and redoes its steps from the previous one, with the same bits."""
    run_dir = _copy(trained[0], tmp_path / "run")
    sums = run_dir / "checkpoints.sha256.json"
    sums.write_text(json.dumps({k: v for k, v in json.loads(sums.read_text()).items()
                                if k != "8"}))
    step_dir = run_dir / "checkpoints" / "8"
    if damage == "metadata":
        (step_dir / "default" / "_METADATA").write_text("{")
    for f in (p for p in step_dir.rglob("*") if p.parent.name == "d" and damage != "metadata"):
        if damage == "truncated":
            f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
        else:
            f.unlink()
    named = r"checkpoints.8: unreadable checkpoint"
    with pytest.raises(UnreadableCheckpoint, match=named):
        load_run(run_dir)  # evaluation: an error naming it, never another step
    with pytest.warns(UserWarning, match=named + r".*previous checkpoint"):
        params = fit(TRAIN, MODEL, toy_arrays(), run_dir, progress=False)
    assert _leaves(params) == _leaves(trained[1])  # steps 5-8 redone: the same bits
    assert len(list((run_dir / "corrupt").iterdir())) == 1


def test_checkpoint_of_another_model_named_and_kept(trained, tmp_path):
    """A checkpoint whose shapes differ from the model's (here config.json says d_model 32) is
    a RunConfigError naming the first leaf that differs, before any array is read; it is not
    taken for damage: nothing is moved."""
    run_dir = _copy(trained[0], tmp_path / "run")
    conf = json.loads((run_dir / "config.json").read_text())
    conf["model"]["d_model"] = 32
    (run_dir / "config.json").write_text(json.dumps(conf))
    with pytest.raises(RunConfigError, match=r"checkpoint 8 in .*checkpoints does not fit this "
                                             r"model: params\.[\w.]+ is stored with shape \("):
        load_run(run_dir)
    assert sorted(os.listdir(run_dir / "checkpoints")) == ["4", "8"]
    assert not (run_dir / "corrupt").exists()


def test_truncated_checkpoint_and_metrics(trained, tmp_path):
    run_dir = _copy(trained[0], tmp_path / "run")
    f = max((p for p in (run_dir / "checkpoints" / "8").rglob("*") if p.parent.name == "d"),
            key=lambda p: p.stat().st_size)  # the largest array data file
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    m = run_dir / "metrics.jsonl"
    m.write_text(m.read_text()[:-7])  # a last line cut short
    with pytest.warns(UserWarning) as rec:
        params = fit(TRAIN, MODEL, toy_arrays(), run_dir, progress=False)
    msgs = " ".join(str(w.message) for w in rec)
    assert f"{f.name}: sha256 mismatch" in msgs
    assert _leaves(params) == _leaves(trained[1])
    strip = lambda p: [faults._strip(json.loads(ln)) for ln in p.read_text().splitlines()]  # noqa: E731
    assert strip(m) == strip(trained[0] / "metrics.jsonl")
    lines = m.read_text().splitlines()  # a damaged line before the last: an error naming it
    m.write_text("\n".join([lines[0], lines[1][:10] + "#" + lines[1][11:], *lines[2:]]) + "\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the redone checkpoint 8 is not taken for damaged
        with pytest.raises(RunConfigError, match=r"metrics.jsonl: line 2 is not a metrics "
                                                 r"record"):
            fit(TRAIN, MODEL, toy_arrays(), run_dir, progress=False)
    assert len(list((run_dir / "corrupt").iterdir())) == 1


def test_corrupted_dataset_array_and_results_json_named(tmp_path):
    from adjax.atomic import read_json, write_json
    from adjax.data import DatasetError, load, write_histories

    rng = np.random.default_rng(0)
    obs = rng.integers(0, 3, (2, 10, 2))
    d = write_histories(tmp_path / "d", obs, rng.integers(0, 3, (2, 10)),
                        np.zeros((2, 10), np.float32),
                        env={"name": "toy", "obs_dims": [3, 3], "num_actions": 3},
                        episode_len=5, plot=False)
    _flip(d / "rewards.npy", 0.9)
    with pytest.raises(DatasetError, match=r"rewards.npy: sha256 mismatch"):
        load(d)
    (d / "obs.npy").write_bytes((d / "obs.npy").read_bytes()[:100])
    with pytest.raises(DatasetError, match=r"obs.npy: unreadable or truncated"):
        load(d)
    res = tmp_path / "results.json"
    res.write_text(json.dumps({"a": [1.0, 2.0]})[:-4])
    with pytest.raises(ValueError, match=r"results.json: unreadable JSON, truncated"):
        read_json(res)
    # A flipped digit still parses: a results file's checksum catches it.
    write_json(res, {"return": [9.78, 0.99], "seeds": 3}, checksum=True)
    assert read_json(res) == {"return": [9.78, 0.99], "seeds": 3}  # the checksum is removed
    res.write_text(res.read_text().replace("9.78", "9.79"))
    with pytest.raises(ValueError, match=r"results.json: its content does not match its "
                                         r"content_sha256"):
        read_json(res)


def test_kill_in_collection_then_rerun(tmp_path):
    """One SIGKILL late in a collection (whatever it was doing), the rerun, byte-identical."""
    ref = tmp_path / "ref"
    ref.mkdir()
    r = faults.run(faults.COLLECT, ref)  # (a rerun of a complete one: tests/data/test_collect)
    assert r.rc == 0, r.stderr[-2000:]
    cut = tmp_path / "cut"
    cut.mkdir()
    first = faults.run(faults.COLLECT, cut, kill_after=0.85 * r.seconds)
    second = faults.run(faults.COLLECT, cut)
    assert second.rc == 0, second.stderr[-2000:]
    assert faults.dataset_bytes(cut / "data") == faults.dataset_bytes(ref / "data")
    assert first.killed or first.rc == 0


# ---- hostile inputs: each a clear error naming the field and value, before any computation,
# changing nothing on disk ----------------------------------------------------------------------

COLLECT_BASE = {"--source": ["qlearning"], "--env": ["darkroom"], "--num-tasks": ["2"],
                "--set": ["num_episodes=4"], "--out": ["new"]}


def _argv(base: dict, extra: list[str]) -> list[str]:
    """base {flag: values} with the flags of `extra` replacing (or adding to) it."""
    flags, key = {}, None
    for a in extra:
        if a.startswith("--"):
            key = a
            flags[key] = []
        else:
            flags[key].append(a)
    merged = {**base, **flags}
    if "--tasks" in flags:
        merged.pop("--num-tasks", None)
    return [a for k, v in merged.items() for a in (k, *v)]
HOSTILE = [
    # python -m adjax.data collect
    ("data", ["--source", "nope"], "'nope'"),
    ("data", ["--env", "nope"], "'nope'"),
    ("data", ["--split", "nope"], "'nope'"),
    ("data", ["--num-tasks", "-3"], "-3"),
    ("data", ["--num-tasks", "0"], "--num-tasks must be >= 1, got 0"),
    ("data", ["--num-tasks", "abc"], "'abc'"),
    ("data", ["--chunk-size", "0"], "chunk_size"),
    ("data", ["--subsample-every", "0"], "subsample_every"),
    ("data", ["--seeds"], "seeds"),
    ("data", ["--set", "num_episodes=-5"], "num_episodes"),
    ("data", ["--set", "num_streams=0"], "num_streams"),
    ("data", ["--set", "lr=abc"], "lr"),
    ("data", ["--set", "nope=1"], "'nope'"),
    ("data", ["--tasks", "999"], "999"),
    ("data", ["--keep-streams", "7"], "keep_streams"),
    ("data", ["--expert", "--expert-episodes", "0"], "expert_episodes"),
    ("data", ["--out", "afile"], "afile"),
    ("data", ["--out", "afile/sub"], "afile"),
    ("data", ["--out", "data", "--set", "num_episodes=5"], "source: existing 'external'"),
    # python -m adjax.train
    ("train", ["--data", "nowhere"], "nowhere"),
    ("train", ["--data", "afile"], "afile"),
    ("train", ["--data", "notdata"], "notdata"),
    ("train", ["--context-len", "5"], "context_len 5"),
    ("train", ["--context-len", "100000"], "context_len 100000"),
    ("train", ["--context-episodes", "-1"], "context"),
    ("train", ["--train.batch-size", "0"], "batch_size"),
    ("train", ["--train.b2", "1.0"], "b2"),
    ("train", ["--train.num-steps", "-5"], "num_steps"),
    ("train", ["--train.label-smoothing", "1.5"], "label_smoothing"),
    ("train", ["--train.peak-lr", "nan"], "peak_lr"),
    ("train", ["--train.peak-lr", "-1"], "peak_lr"),
    ("train", ["--train.warmup-steps", "-1"], "warmup_steps"),
    ("train", ["--token-mask-prob", "2"], "token_mask_prob"),
    ("train", ["--attn-dropout", "-0.5"], "attn_dropout"),
    ("train", ["--out", "run"], "another model"),
    # python -m adjax.evaluate
    ("evaluate", ["nowhere"], "nowhere"),
    ("evaluate", ["--env", "nope"], "'nope'"),
    ("evaluate", ["--env", "bandit", "--split", "val"], "--env bandit: obs_dims"),
    ("evaluate", ["--split", "nope"], "'nope'"),
    ("evaluate", ["--episodes", "0"], "episodes"),
    ("evaluate", ["--seeds", "-2"], "seeds"),
    ("evaluate", ["--tasks", "0"], "tasks"),
    ("evaluate", ["--temperature", "nan"], "temperature"),
    ("evaluate", ["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    ("evaluate", ["--refresh-every", "0"], "--refresh-every must be >= 1, got 0"),
    # python -m adjax.experiments.darkroom
    ("darkroom", ["--preset", "nope"], "'nope'"),
    ("darkroom", ["--seeds", "0"], "seeds"),
    ("darkroom", ["--episodes", "-1"], "episodes"),
    ("darkroom", ["--out", "exp"], "experiment.json"),
]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A darkroom dataset, a run directory (config.json of another model, no checkpoint), an
    experiment directory with a damaged experiment.json, a file, a dataset-less directory."""
    from adjax.data import write_histories
    from adjax.model import cpu_model
    from adjax.train.__main__ import tiny_model

    ws = tmp_path_factory.mktemp("hostile")
    rng = np.random.default_rng(0)
    write_histories(ws / "data", rng.integers(0, 9, (4, 100, 2)), rng.integers(0, 5, (4, 100)),
                    np.zeros((4, 100), np.float32), env="darkroom", plot=False)
    model = tiny_model((9, 9), 5, 80)
    (ws / "run").mkdir()
    (ws / "run" / "config.json").write_text(json.dumps({
        "model": cpu_model((9, 9), 5, 20).to_dict(), "train": TrainConfig().to_dict(),
        "data": {"env": "darkroom", "kind": "learning", "obs_dims": [9, 9], "num_actions": 5,
                 "episode_len": 20, "num_histories": 4, "history_len": 100}}))
    (ws / "exp").mkdir()
    (ws / "exp" / "experiment.json").write_text('{"name": "darkroom", "env": ')
    (ws / "afile").write_text("x")
    (ws / "notdata").mkdir()
    del model
    return ws


def _snapshot(d: Path) -> dict:
    """Every path, and each file's size and modification time (a directory's own mtime changes
    when a lock file is made and removed in it: not a change of what it holds)."""
    return {str(p.relative_to(d)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file()
            else "dir" for p in sorted(d.rglob("*"))}


def _invoke(cmd: str, extra: list[str], ws: Path):
    import tyro

    from adjax.atomic import one_line_errors

    with one_line_errors(f"python -m adjax.{cmd}"):
        if cmd == "data":
            from adjax.data.__main__ import main

            return main(["collect", *_argv(COLLECT_BASE, extra)])
        if cmd == "train":
            from adjax.train.__main__ import Args, main

            base = {"--data": "data", "--out": "newrun", "--model": "tiny"}
            base.update(dict(zip(extra[::2], extra[1::2], strict=True)))
            return main(tyro.cli(Args, args=[a for kv in base.items() for a in kv]))
        if cmd == "evaluate":
            from adjax.evaluate.__main__ import Args, main

            pos = extra[:1] if extra and not extra[0].startswith("--") else ["run"]
            rest = extra[len(pos):] if pos == extra[:1] else extra
            return main(tyro.cli(Args, args=[*pos, "--out", "ev.json", *rest]))
        from adjax.experiments.command import cli
        from adjax.experiments.darkroom import PRESETS

        base = {"--preset": "tiny", "--out": "newexp"}
        base.update(dict(zip(extra[::2], extra[1::2], strict=True)))
        return cli("darkroom", PRESETS, [a for kv in base.items() for a in kv])


@pytest.mark.parametrize(("cmd", "extra", "named"), HOSTILE,
                         ids=[f"{c}{'_'.join(e)}" for c, e, _ in HOSTILE])
def test_hostile_input(cmd, extra, named, workspace, monkeypatch, capsys):
    monkeypatch.chdir(workspace)
    before = _snapshot(workspace)
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as e:
        _invoke(cmd, extra, workspace)
    seconds = time.perf_counter() - t0
    err = capsys.readouterr().err + (e.value.code if isinstance(e.value.code, str) else "")
    assert e.value.code not in (0, None)
    assert named in err, err
    assert seconds < 10  # before any long computation
    assert _snapshot(workspace) == before
