"""The run directory pieces shared by AD's and RL²'s trainers and by what loads their runs."""

import json

import pytest

from adjax.checkpoints import RunConfigError, changed, latest_step, read_config, truncate_metrics


def test_changed_names_old_and_new_values_except_ignored_fields():
    old = {"lr": 1e-3, "num_steps": 100, "seed": 0}
    new = {"lr": 3e-4, "num_steps": 200, "seed": 0, "dropout": 0.1}
    assert changed(old, new) == {"lr": (1e-3, 3e-4), "num_steps": (100, 200),
                                 "dropout": (None, 0.1)}
    assert changed(old, new, ignore=("num_steps",)) == {"lr": (1e-3, 3e-4), "dropout": (None, 0.1)}
    assert changed(old, old) == {}


def test_truncate_metrics_keeps_records_up_to_the_checkpoint_by_the_given_key(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text("".join(json.dumps({"update": u, "loss": u / 10}) + "\n" for u in (5, 10, 15))
                    + '{"update": 20, "lo')  # a last line cut short by a kill
    with pytest.warns(UserWarning, match="partial last line"):
        truncate_metrics(path, 10, key="update")
    assert [json.loads(ln)["update"] for ln in path.read_text().splitlines()] == [5, 10]
    path.write_text('{"update": 5}\nnot json\n{"update": 6}\n')
    with pytest.raises(RunConfigError, match=r"metrics.jsonl: line 2 is not a metrics record"):
        truncate_metrics(path, 10, key="update")


def test_a_directory_without_a_run_is_named(tmp_path):
    assert latest_step(tmp_path) is None
    with pytest.raises(RunConfigError, match=r"config.json: not a run directory"):
        read_config(tmp_path)
    (tmp_path / "config.json").write_text('{"model": ')
    with pytest.raises(RunConfigError, match="config.json"):
        read_config(tmp_path)
    (tmp_path / "checkpoints" / "40").mkdir(parents=True)
    (tmp_path / "checkpoints" / "8").mkdir()
    (tmp_path / "checkpoints" / "48.orbax-checkpoint-tmp-1").mkdir()  # a save in progress
    assert latest_step(tmp_path) == 40
