"""write_histories: external histories -> a dataset that load and the trainer take; every mismatch
is a HistoryError naming the field, raised before anything is written."""

import json

import numpy as np
import pytest

from adjax.atomic import sha256_file
from adjax.data import HistoryError, load, write_histories

H, E, L = 4, 3, 20  # histories, episodes, Dark Room's episode length
T = E * L
GOALS = np.array([[0, 0], [8, 8], [3, 5]], np.int32)


def _histories(seed=0, h=H, t=T):
    rng = np.random.default_rng(seed)
    obs = rng.integers(0, 9, (h, t, 2)).astype(np.int64)
    actions = rng.integers(0, 5, (h, t))
    rewards = (rng.random((h, t)) < 0.2).astype(np.float32)
    return obs, actions, rewards


def _siblings(path):
    """Everything next to `path` named after it (the dataset, staging or old copies)."""
    return sorted(p.name for p in path.parent.iterdir() if path.name in p.name)


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    obs, actions, rewards = _histories()
    out = tmp_path_factory.mktemp("ext") / "mine"
    path = write_histories(out, obs, actions, rewards, env="darkroom", episode_len=L,
                           tasks=GOALS, task_index=[0, 1, 2, 1], source="numpy-eps-greedy",
                           source_config={"eps": 0.1})
    return path, (obs, actions, rewards)


def test_round_trip(written):
    path, (obs, actions, rewards) = written
    ds = load(path, env="darkroom")  # verifies shapes, dtypes and every checksum
    np.testing.assert_array_equal(ds.obs, obs)
    np.testing.assert_array_equal(ds.actions, actions)
    np.testing.assert_array_equal(ds.rewards, rewards)
    np.testing.assert_array_equal(ds.task_index, [0, 1, 2, 1])
    np.testing.assert_array_equal(ds.tasks, GOALS)
    assert (ds.obs.dtype, ds.actions.dtype, ds.rewards.dtype) == (np.int8, np.uint8, np.float16)
    assert (ds.num_histories, ds.history_len, ds.episode_len, ds.num_episodes) == (H, T, L, E)
    assert ds.kind == "learning" and ds.env_name == "darkroom"
    m = json.loads((path / "manifest.json").read_text())
    assert m["source"] == "numpy-eps-greedy" and m["source_config"] == {"eps": 0.1}
    assert m["env_config"]["obs_dims"] == [9, 9] and m["env_config"]["num_actions"] == 5
    for name, spec in m["arrays"].items():
        assert sha256_file(path / f"{name}.npy") == spec["sha256"], name
    np.testing.assert_allclose(ds.episode_returns(), rewards.reshape(H, E, L).sum(-1))
    assert (path / "learning_curve.png").stat().st_size > 0
    assert _siblings(path) == ["mine"]  # no staging directory left behind


def test_fits_the_trainer(written):
    """The trainer's own pre-compute checks accept it (the notebook test trains on such data)."""
    from adjax.experiments.common import tiny_model, tiny_train
    from adjax.train.fit import check_data
    from adjax.train.windows import as_arrays

    arrays = as_arrays(load(written[0]))
    assert (arrays.obs_dims, arrays.num_actions, arrays.episode_len) == ((9, 9), 5, L)
    check_data(arrays, tiny_model((9, 9), 5, context_len=2 * L), tiny_train(batch_size=2))


def test_env_object_and_defaults(darkroom3, tmp_path):
    """A gymnax env object gives episode_len; tasks alone = one task per history."""
    env, _ = darkroom3
    obs, actions, rewards = _histories(h=2)
    obs %= 3
    out = write_histories(tmp_path / "d", obs, actions, rewards, env=env,
                          tasks=[[0, 0], [2, 1]], plot=False)
    ds = load(out, env=env)
    np.testing.assert_array_equal(ds.task_index, [0, 1])
    assert ds.manifest["env_config"]["obs_dims"] == [3, 3] and ds.manifest["source"] == "external"
    assert not (out / "learning_curve.png").exists()


def test_mapping_spec_without_tasks(tmp_path):
    """No gymnax env at all: a name, observation cardinalities and the number of actions."""
    rng = np.random.default_rng(1)
    obs = rng.integers(0, 4, (3, 10, 1)).astype(np.int32)
    actions, rewards = rng.integers(0, 3, (3, 10)), rng.integers(-1, 2, (3, 10))
    spec = {"name": "my-chain", "obs_dims": [4], "num_actions": 3}
    out = write_histories(tmp_path / "d", obs, actions, rewards, env=spec, episode_len=5,
                          kind="expert")
    ds = load(out)
    assert (ds.env_name, ds.kind, ds.num_episodes) == ("my-chain", "expert", 2)
    np.testing.assert_array_equal(ds.task_index, [0, 1, 2])
    np.testing.assert_array_equal(ds.rewards, rewards)


def test_overwrite_replaces_only_when_asked(written, tmp_path):
    obs, actions, rewards = _histories(seed=5, h=1)
    out = tmp_path / "d"
    write_histories(out, obs, actions, rewards, env="darkroom", tasks=GOALS[:1], plot=False)
    with pytest.raises(FileExistsError, match="out_dir: .* exists"):
        write_histories(out, *_histories(seed=6, h=1), env="darkroom", tasks=GOALS[:1])
    np.testing.assert_array_equal(load(out).actions, actions)  # untouched
    new = _histories(seed=6, h=1)
    write_histories(out, *new, env="darkroom", tasks=GOALS[:1], overwrite=True, plot=False)
    np.testing.assert_array_equal(load(out).actions, new[1])
    assert _siblings(out) == ["d"]


def test_failed_write_leaves_nothing(tmp_path, monkeypatch):
    import adjax.data.external as ext

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(ext, "write_manifest", boom)
    with pytest.raises(OSError, match="disk full"):
        write_histories(tmp_path / "d", *_histories(), env="darkroom", episode_len=L,
                        tasks=GOALS, task_index=[0, 1, 2, 1])
    assert list(tmp_path.iterdir()) == []


def _bad(**changes):
    """(obs, actions, rewards, kwargs) with some of them replaced."""
    obs, actions, rewards = _histories()
    base = {"obs": obs, "actions": actions, "rewards": rewards, "env": "darkroom",
            "episode_len": L, "tasks": GOALS, "task_index": [0, 1, 2, 1]}
    return {**base, **changes}


def _nan_rewards():
    r = _histories()[2].copy()
    r[2, 7] = np.nan
    return r


def _with(array, index, value):
    a = np.array(array)
    a[index] = value
    return a


o, a, r = _histories()
ERRORS = {
    # case: (changes, the message must contain each of these)
    "obs_axes": ({"obs": o[..., 0]}, ["obs shape", "[histories, steps, 2]", "[4, 60]"]),
    "obs_components": ({"obs": o[..., :1]}, ["obs shape", "[4, 60, 2]", "[4, 60, 1]"]),
    "obs_dtype": ({"obs": o.astype(np.float32)}, ["obs dtype", "integer", "float32"]),
    "obs_range": ({"obs": _with(o, (1, 2, 1), 9)}, ["obs[..., 1]", "[0, 9)", "9 at index [1, 2]"]),
    "obs_negative": ({"obs": _with(o, (0, 0, 0), -1)}, ["obs[..., 0]", "[0, 9)", "-1"]),
    "actions_shape": ({"actions": a[:, :-1]}, ["actions shape", "[4, 60]", "[4, 59]"]),
    "actions_range": ({"actions": _with(a, (3, 4), 5)},
                      ["actions", "[0, 5)", "5 at index [3, 4]"]),
    "actions_negative": ({"actions": _with(a, (0, 1), -2)}, ["actions", "[0, 5)", "-2"]),
    "actions_dtype": ({"actions": a.astype(np.float64)}, ["actions dtype", "integer", "float64"]),
    "rewards_shape": ({"rewards": r[:3]}, ["rewards shape", "[4, 60]", "[3, 60]"]),
    "rewards_nan": ({"rewards": _nan_rewards()}, ["rewards", "finite", "nan at index [2, 7]"]),
    "rewards_inf": ({"rewards": _with(r, (0, 0), np.inf)}, ["rewards", "finite", "inf"]),
    "rewards_float16": ({"rewards": _with(r, (1, 1), 0.1)},
                        ["rewards", "float16", "0.1", "[1, 1]"]),
    "rewards_dtype": ({"rewards": r.astype(bool)}, ["rewards dtype", "numeric", "bool"]),
    "partial_episode": ({"obs": o[:, :50], "actions": a[:, :50], "rewards": r[:, :50]},
                        ["number of steps", "multiple of episode_len 20", "50 (2 episodes and 10"]),
    "episode_len_vs_env": ({"episode_len": 10}, ["episode_len", "20", "10"]),
    "episode_len_value": ({"episode_len": 0}, ["episode_len", "int >= 1", "0"]),
    "task_index_shape": ({"task_index": [0, 1]}, ["task_index shape", "(4,)", "(2,)"]),
    "task_index_range": ({"task_index": [0, 1, 3, 1]}, ["task_index", "[0, 3)", "3 at index [2]"]),
    "task_index_dtype": ({"task_index": [0.0, 1.0, 2.0, 1.0]}, ["task_index dtype", "float64"]),
    "tasks_shape": ({"tasks": GOALS[:, :1]}, ["tasks shape", "[num_tasks, 2]", "[3, 1]"]),
    "tasks_value": ({"tasks": _with(GOALS, (1, 0), 9)}, ["tasks[1]", "darkroom", "outside"]),
    "tasks_count": ({"task_index": None}, ["tasks", "4 rows", "3 rows"]),
    "kind": ({"kind": "demo"}, ["kind", "'learning' or 'expert'", "'demo'"]),
    "spec_keys": ({"env": {"name": "x", "obs_dims": [9, 9]}}, ["env", "num_actions"]),
    "spec_episode_len": ({"env": {"name": "x", "obs_dims": [9, 9], "num_actions": 5},
                          "episode_len": None}, ["episode_len", "an int", "None"]),
    "source_config": ({"source_config": {"f": np.float32(1)}}, ["source_config", "JSON"]),
}


@pytest.mark.parametrize("case", sorted(ERRORS))
def test_errors_name_the_field_and_write_nothing(case, tmp_path):
    changes, parts = ERRORS[case]
    kw = _bad(**changes)
    out = tmp_path / "d"
    with pytest.raises(HistoryError) as info:
        write_histories(out, kw.pop("obs"), kw.pop("actions"), kw.pop("rewards"), **kw)
    msg = str(info.value)
    for part in parts:
        assert part in msg, (part, msg)
    assert list(tmp_path.iterdir()) == []


def test_existing_dir_is_refused_before_anything(tmp_path):
    out = tmp_path / "d"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="exists"):
        write_histories(out, *_histories(), env="darkroom", tasks=GOALS, task_index=[0, 1, 2, 1])
    assert (out / "keep.txt").read_text() == "mine" and _siblings(out) == ["d"]
