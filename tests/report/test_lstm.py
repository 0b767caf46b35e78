"""LSTM-AD against the transformer's AD: the comparison, by hand on toy curves."""

import json

import numpy as np
import pytest

from adjax.report.lstm import comparable, compare, lstm_lines, paper_line


def _results(per_train_seed, episodes, command="c"):
    x = np.asarray(per_train_seed, np.float64)[:, None] * np.ones((1, episodes))
    return {"env": "darkroom", "command": command,
            "curves": {"test": {"AD": {"per_train_seed": x.tolist(), "per_seed": x.tolist(),
                                       "num_tasks": 4},
                                "random": {"per_seed": np.zeros((2, episodes)).tolist()},
                                "optimal": 17.0}}}


def test_compare_over_the_common_episodes_with_a_welch_interval():
    lstm, tf = _results([4.0, 5.0, 6.0], 20), _results([9.0, 10.0, 11.0], 100)
    c = compare(lstm, tf)
    assert c["episodes"] == 20  # the shorter run's
    assert c["models"]["LSTM-AD"]["last_10pct"] == 5.0
    assert c["models"]["transformer AD"]["last_10pct"] == 10.0
    # Welch: both variances 1/3 per mean, dof 4: t(0.975, 4) = 2.776 * sqrt(2/3)
    assert c["difference"]["transformer_minus_lstm"] == 5.0
    assert c["difference"]["ci95"] == pytest.approx(2.776 * np.sqrt(2 / 3), abs=2e-3)
    assert c["difference"]["last_episodes"] == [19, 20]
    assert c["ordering"].startswith("holds")
    assert compare(tf, lstm)["ordering"].startswith("reversed")
    close = compare(_results([9.0, 10.5, 11.5], 20), tf)
    assert close["ordering"].startswith("not shown")


def test_only_runs_that_differ_in_the_model_are_compared(tmp_path):
    cfg = {"env": "darkroom", "source": {"lr": 1.0}, "model": {"sequence_model": "lstm"},
           "train_ed": None, "train_seeds": 3,
           "eval": {"refresh_check": None, "splits": [{"split": "test", "num_episodes": 200}]}}
    tf_cfg = {**cfg, "model": {}, "train_ed": {"num_steps": 5}, "train_seeds": 5,
              "eval": {"refresh_check": {"num_seeds": 5},
                       "splits": [{"split": "test", "num_episodes": 1000}]}}
    assert comparable(cfg, tf_cfg) == []
    assert comparable({**cfg, "source": {"lr": 0.5}}, tf_cfg) == ["source"]

    for d, r, c in ((tmp_path / "lstm_ad" / "darkroom", _results([4.0, 5.0, 6.0], 20, "l"), cfg),
                    (tmp_path / "darkroom", _results([9.0, 10.0, 11.0], 100, "t"), tf_cfg)):
        d.mkdir(parents=True)
        (d / "results.json").write_text(json.dumps(r))
        (d / "experiment.json").write_text(json.dumps(c))
    text = "\n".join(lstm_lines(tmp_path))
    assert "| LSTM-AD | 3 (training) | 5.00 ± 2.48 | 5.00 ± 2.48 |" in text
    assert "Transformer minus LSTM over episodes 19-20: +5.00 ± 2.27 (Welch)" in text
    assert "transformer above LSTM): holds" in text
    assert (tmp_path / "lstm_ad" / "darkroom" / "figures" / "lstm_vs_transformer.png").exists()
    (tmp_path / "lstm_ad" / "darkroom" / "experiment.json").write_text(
        json.dumps({**cfg, "source": {"lr": 0.5}}))
    assert "Not compared: the runs differ beyond the model in source." in "\n".join(
        lstm_lines(tmp_path))


def test_the_paper_line_names_its_episode_beside_ours():
    assert paper_line("darkroom", 181, 200) == []  # the paper gives no Dark Room numbers
    (line,) = paper_line("key_to_door", 181, 200)
    assert "after 300 episodes): transformer 1.89, LSTM 1.68, a gap of 0.21" in line
    assert "ours above are over episodes 181-200" in line
