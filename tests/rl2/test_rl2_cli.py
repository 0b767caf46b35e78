"""End to end: `python -m adjax.rl2` on Dark Room's tiny preset (slow: compiles Dark Room's
update and evaluation)."""

import json

import numpy as np
import pytest

from adjax.rl2 import trajectories
from adjax.rl2.__main__ import config_from, main, parse


@pytest.mark.slow
def test_cli_trains_and_evaluates_darkroom(tmp_path, capsys):
    pub = tmp_path / "published" / "darkroom"
    main(["--env", "darkroom", "--preset", "tiny", "--out", str(tmp_path), "--updates", "4",
          "--eval-seeds", "2", "--set", "episodes_per_trial=2", "--publish", str(pub)])
    res = json.loads((tmp_path / "eval" / "results.json").read_text())
    # published for the report: per-pair returns averaged over tasks, the records, the budget
    out = json.loads((pub / "seed0" / "results.json").read_text())
    per_seed = out["splits"]["test"]["curves"]["rl2"]["per_seed"]
    assert "returns" not in out["splits"]["test"]["curves"]["rl2"]
    np.testing.assert_allclose(per_seed, np.mean(res["splits"]["test"]["curves"]["rl2"][
        "returns"], axis=0), atol=1e-4)
    run = json.loads((pub / "seed0" / "run.json").read_text())
    assert run["update"] == 4 and run["env_steps"] == res["rl2"]["env_steps"]
    assert run["train_seconds"] > 0 and "--publish" in run["command"]
    assert (pub / "seed0" / "training.jsonl").read_text() == (
        tmp_path / "metrics.jsonl").read_text()
    assert res["env"] == "darkroom" and res["temperature"] == 1.0 and res["rl2"]["update"] == 4
    assert set(res["splits"]) == {"val", "test", "train"}
    test = res["splits"]["test"]
    assert test["num_tasks"] == 16 and set(test["curves"]) == {"rl2", "random"}
    assert np.shape(test["curves"]["rl2"]["returns"]) == (16, 2, 2)
    assert test["optimal"]["mean"] > 0
    assert (tmp_path / "eval" / "results.png").exists()
    cfg = json.loads((tmp_path / "config.json").read_text())["rl2"]
    assert cfg["episodes_per_trial"] == 2 and cfg["env"] == "darkroom"
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 1
    # its trajectory pictures replay the evaluation's trials (pairs where it found the goal)
    rl2_returns = np.asarray(test["curves"]["rl2"]["returns"])
    found = [tuple(p) for p in np.argwhere(rl2_returns.sum(-1) > 0)[:2]]
    assert found, "no evaluation trial reached a goal: nothing to compare the replay with"
    for task, seed in found:
        files = trajectories.main([str(tmp_path), "--task", str(task), "--seed", str(seed)])
        paths = json.loads(files["json"].read_text())
        assert paths["returns"] == rl2_returns[task, seed].tolist(), (task, seed)
    assert paths["episodes"] == 2 and paths["update"] == 4 and list(paths["shown"]) == ["1", "2"]
    assert files["png"].stat().st_size > 0 and files["gif"].stat().st_size > 0
    with pytest.raises(SystemExit, match="not in the held-out split"):
        trajectories.main([str(tmp_path), "--task", "16", "--force"])
    with pytest.raises(SystemExit, match="not a trained RL² run"):
        trajectories.main([str(tmp_path / "eval")])
    # a kept checkpoint evaluated by name, beside the latest's results; a missing one named
    main(["--out", str(tmp_path), "--no-train", "--checkpoint", "4", "--eval-seeds", "2",
          "--splits", "val"])
    again = json.loads((tmp_path / "eval" / "results-4.json").read_text())
    assert again["rl2"]["update"] == 4 and set(again["splits"]) == {"val"}
    assert again["splits"]["val"]["curves"] == res["splits"]["val"]["curves"]
    with pytest.raises(SystemExit, match="2"):
        main(["--out", str(tmp_path), "--no-train", "--checkpoint", "3", "--splits", "val"])
    assert "no checkpoint of update 3; kept: [4]" in capsys.readouterr().err


def test_set_parses_as_the_experiments_sweeps_do():
    cfg = config_from(parse(["--out", "x", "--set", "lr=1", "hidden=[32,32]", "network=transformer",
                             "--updates", "3"]))
    assert type(cfg.lr) is float and cfg.lr == 1.0 and cfg.hidden == (32, 32)
    assert cfg.num_updates == 3 and cfg.tf_width == 64  # the quick preset's transformer size
    for bad, want in ((["nope=1"], "unknown field 'nope'"), (["lr=abc"], "expected float"),
                      (["hidden=3"], "expected tuple"), (["lr"], "expected FIELD.PATH=VALUE")):
        with pytest.raises(SystemExit, match=want):
            config_from(parse(["--out", "x", "--set", *bad]))


def test_max_minutes_and_checkpoint_are_checked_first(tmp_path):
    with pytest.raises(SystemExit, match="--max-minutes must be > 0, got 0.0"):
        main(["--out", str(tmp_path), "--max-minutes", "0"])
    with pytest.raises(SystemExit, match="--checkpoint evaluates a kept checkpoint: add --no"):
        main(["--out", str(tmp_path), "--checkpoint", "5"])
    assert not any(tmp_path.iterdir())
