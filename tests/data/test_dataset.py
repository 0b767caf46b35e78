"""load: every corrupted-dataset case fails with a message naming the file; learning curve; CLI."""

import json
import shutil
import warnings

import numpy as np
import pytest

from adjax.data import CollectSpec, DatasetError, collect, learning_curve, load
from adjax.data.__main__ import info
from adjax.sources import qlearning

TASKS = np.array([[2, 2], [0, 1]], np.int32)


@pytest.fixture(scope="module")
def good(darkroom3, tmp_path_factory):
    cfg = qlearning.Config(num_episodes=30)
    return collect(CollectSpec(cfg, darkroom3[0], tasks=TASKS),
                   tmp_path_factory.mktemp("d") / "good", chunk_size=2, progress=False)


@pytest.fixture
def bad(good, tmp_path):
    p = tmp_path / "bad"
    shutil.copytree(good, p)
    return p


def test_load_ok(good):
    ds = load(good, env="darkroom")
    assert isinstance(ds.obs, np.memmap) and ds.num_histories == 2
    with pytest.raises(AttributeError):
        ds.manifest = {}  # frozen


def test_missing_manifest(bad):
    (bad / "manifest.json").unlink()
    with pytest.raises(DatasetError, match="manifest.json: missing manifest"):
        load(bad)


def test_missing_dir(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset"):
        load(tmp_path / "nope")


def test_truncated_file(bad):
    f = bad / "actions.npy"
    f.write_bytes(f.read_bytes()[:-100])
    with pytest.raises(DatasetError, match="actions.npy: unreadable or truncated"):
        load(bad)


def test_altered_file(bad):
    f = bad / "rewards.npy"
    b = bytearray(f.read_bytes())
    b[-1] ^= 0x3C
    f.write_bytes(bytes(b))
    with pytest.raises(DatasetError, match="rewards.npy: sha256 mismatch"):
        load(bad)
    with pytest.warns(UserWarning, match="NOT verified"):
        load(bad, verify=False)  # skipping the hash is never silent


def test_missing_array(bad):
    (bad / "obs.npy").unlink()
    with pytest.raises(DatasetError, match="obs.npy: missing array file"):
        load(bad)


def test_wrong_dtype_and_shape(bad, good):
    np.save(bad / "task_index.npy", np.zeros(2, np.int64))
    with pytest.raises(DatasetError, match="task_index.npy: dtype"):
        load(bad)
    np.save(bad / "task_index.npy", np.zeros(3, np.int32))
    with pytest.raises(DatasetError, match=r"task_index.npy: shape \[3\]"):
        load(bad)


def test_wrong_env(good, darkroom3):
    with pytest.raises(DatasetError, match="for env 'darkroom', not 'key-to-door'"):
        load(good, env="key-to-door")
    load(good, env=darkroom3[0])


def test_bad_manifest_json(bad):
    (bad / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match="unreadable manifest"):
        load(bad)


def test_manifest_counts_checked(bad):
    m = json.loads((bad / "manifest.json").read_text())
    m["history_len"] += 20
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DatasetError, match="num_histories, history_len"):
        load(bad)


def test_learning_curve_and_info(good):
    ds = load(good)
    c = learning_curve(ds)
    R = np.asarray(ds.rewards, np.float32).reshape(2, 30, 20).sum(-1)
    np.testing.assert_allclose(c["mean"], R.mean(0))
    np.testing.assert_allclose(c["std"], R.std(0))
    assert (good / "learning_curve.png").exists()
    text = info(good)
    assert "qlearning" in text and "2 x 600 steps" in text and "darkroom" in text


def test_verify_false_warns_once(good):
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        load(good, verify=False)
    assert any("NOT verified" in str(x.message) for x in w)
