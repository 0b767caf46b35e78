"""collect: layout, determinism, stable keys, subsampling, stream selection, resume, expert data."""

import json

import numpy as np
import pytest

from adjax.data import CollectSpec, collect, load
from adjax.sources import qlearning

CFG = qlearning.Config(num_episodes=12, num_streams=3, eps_decay_frac=0.5)
TASKS = np.array([[2, 2], [0, 0], [1, 2], [2, 0], [0, 2]], np.int32)


HOW = ("expert", "expert_out_dir", "chunk_size", "overwrite", "progress", "plot", "on_chunk")


def _collect(env, out, **kw):
    """collect(CollectSpec(cfg, env, **the spec's fields), out, **the rest)."""
    kw = {"tasks": TASKS, "chunk_size": 2, "progress": False, "plot": False, **kw}
    how = {k: kw.pop(k) for k in HOW if k in kw}
    return collect(CollectSpec(kw.pop("cfg", CFG), env, **kw), out, **how)


def _arrays(path):
    return {f.name: f.read_bytes() for f in sorted(path.glob("*.npy"))}


@pytest.fixture(scope="module")
def base(darkroom3, tmp_path_factory):
    env, _ = darkroom3
    return _collect(env, tmp_path_factory.mktemp("c") / "base", plot=True)


def test_layout_and_manifest(base, darkroom3):
    ds = load(base, env="darkroom")
    H, T = len(TASKS) * 3, 12 * 20
    assert (ds.num_histories, ds.history_len, ds.episode_len, ds.kind) == (H, T, 20, "learning")
    assert ds.obs.shape == (H, T, 2) and ds.obs.dtype == np.int8
    assert ds.actions.dtype == np.uint8 and ds.rewards.dtype == np.float16
    np.testing.assert_array_equal(ds.task_index, np.repeat(np.arange(5), 3))
    np.testing.assert_array_equal(ds.stream, np.tile(np.arange(3), 5))
    np.testing.assert_array_equal(ds.tasks, TASKS)
    m = ds.manifest
    for key in ("format_version", "env", "env_config", "source", "source_config", "kind", "seed",
                "num_histories", "history_len", "episode_len", "num_episodes", "subsample_every",
                "arrays", "adjax_version"):
        assert key in m, key
    assert m["source"] == "qlearning" and m["source_config"]["num_episodes"] == 12
    assert (base / "learning_curve.png").stat().st_size > 0
    assert not list(base.parent.glob(".base.tmp-*"))


def test_matches_direct_train(base, darkroom3):
    """History h = stream s of task row i, run with key fold_in(key(seed), task id)."""
    import jax

    env, params = darkroom3
    ds = load(base)
    _, h = jax.jit(qlearning.make_train(CFG, env))(
        jax.random.fold_in(jax.random.key(0), 3), env.with_task(params, TASKS[3])
    )
    np.testing.assert_array_equal(ds.actions[9:12], np.asarray(h.actions))
    np.testing.assert_array_equal(ds.obs[9:12], np.asarray(h.obs))
    np.testing.assert_array_equal(ds.rewards[9:12], np.asarray(h.rewards))


def test_same_command_same_bytes(base, darkroom3, tmp_path):
    again = _collect(darkroom3[0], tmp_path / "again", plot=True)
    assert _arrays(again) == _arrays(base)


def test_adding_tasks_keeps_histories(base, darkroom3, tmp_path):
    more = np.concatenate([TASKS, [[1, 0]]])
    p = _collect(darkroom3[0], tmp_path / "more", tasks=more, chunk_size=4)
    np.testing.assert_array_equal(load(p).actions[:15], load(base).actions)


def test_subsample_and_keep_streams(base, darkroom3, tmp_path):
    p = _collect(darkroom3[0], tmp_path / "sub", subsample_every=3, keep_streams=[2, 0])
    ds, full = load(p), load(base)
    assert ds.num_episodes == 4 and ds.manifest["subsample_every"] == 3
    np.testing.assert_array_equal(ds.stream, np.tile([2, 0], 5))
    want = np.asarray(full.rewards).reshape(5, 3, 12, 20)[:, [2, 0]][:, :, 2::3]
    np.testing.assert_array_equal(ds.rewards, want.reshape(10, 80))
    want_obs = np.asarray(full.obs).reshape(5, 3, 12, 20, 2)[:, [2, 0]][:, :, 2::3]
    np.testing.assert_array_equal(ds.obs, want_obs.reshape(10, 80, 2))


def test_resume_after_interruption(base, darkroom3, tmp_path):
    out = tmp_path / "resumed"

    class Boom(Exception):
        pass

    def fail_after_first(i):
        if i == 0:
            raise Boom

    with pytest.raises(Boom):
        _collect(darkroom3[0], out, on_chunk=fail_after_first, plot=True)
    assert not out.exists()  # no half-written dataset
    calls = []
    _collect(darkroom3[0], out, on_chunk=calls.append, plot=True)
    assert calls == [1, 2]  # chunk 0 was reused
    assert _arrays(out) == _arrays(base)
    arrays = json.loads((out / "manifest.json").read_text())["arrays"]
    assert arrays == load(base).manifest["arrays"]


def test_existing_output_is_not_overwritten(base, darkroom3, capsys):
    """The same command on a complete dataset says so and changes nothing; another
    configuration is refused, naming the differing field."""
    before = {f.name: f.stat().st_mtime_ns for f in base.iterdir()}
    assert _collect(darkroom3[0], base) == base
    assert "already complete" in capsys.readouterr().out
    assert {f.name: f.stat().st_mtime_ns for f in base.iterdir()} == before
    with pytest.raises(FileExistsError, match="source_config.num_episodes: existing 12, "
                                              "requested 13"):
        _collect(darkroom3[0], base, cfg=qlearning.Config(num_episodes=13, num_streams=3,
                                                          eps_decay_frac=0.5))
    with pytest.raises(FileExistsError, match="seeds: existing"):
        _collect(darkroom3[0], base, seeds=(1,))


def test_expert_data(darkroom3, tmp_path):
    cfg = qlearning.Config(num_episodes=60)
    p = _collect(darkroom3[0], tmp_path / "expert", cfg=cfg, expert=True, expert_episodes=5)
    ds = load(p)
    assert ds.kind == "expert" and ds.num_episodes == 5 and ds.num_histories == 5
    opt = np.minimum(20, 21 - np.abs(TASKS - 1).sum(1))
    np.testing.assert_array_equal(ds.episode_returns(), np.repeat(opt[:, None], 5, 1))


def test_learning_and_expert_in_one_pass_equal_two_collections(darkroom3, tmp_path):
    """One run of the learners for both datasets: the same bits as collecting each alone."""
    env = darkroom3[0]
    kw = {"subsample_every": 3, "keep_streams": [2, 0]}
    _collect(env, tmp_path / "learn", expert_out_dir=tmp_path / "expert", expert_episodes=4, **kw)
    _collect(env, tmp_path / "learn1", **kw)
    _collect(env, tmp_path / "expert1", expert=True, expert_episodes=4)
    for a, b in (("learn", "learn1"), ("expert", "expert1")):
        assert _arrays(tmp_path / a) == _arrays(tmp_path / b)
        m = {k: v for k, v in load(tmp_path / a).manifest.items() if k != "created"}
        m1 = {k: v for k, v in load(tmp_path / b).manifest.items() if k != "created"}
        assert m == m1
    assert load(tmp_path / "expert").manifest["subsample_every"] == 1
    with pytest.raises(ValueError, match="learning histories only"):
        _collect(env, tmp_path / "x", expert=True, subsample_every=3)
