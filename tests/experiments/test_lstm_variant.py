"""`--model lstm`: an experiment's preset with LSTM-AD in place of the transformer, nothing else
changed (the whole run was checked by hand: `python -m adjax.experiments.darkroom --preset tiny
--model lstm`, about 3 minutes)."""

import dataclasses
from pathlib import Path

import pytest

from adjax.experiments import darkroom, key_to_door
from adjax.experiments.command import Args, resolve, with_overrides
from adjax.model import lstm_like


@pytest.mark.parametrize("module, preset, size", [(darkroom, "quick", "cpu"),
                                                  (key_to_door, "paper", "paper")])
def test_lstm_override_changes_the_model_only(module, preset, size):
    base = module.PRESETS[preset]()
    cfg = with_overrides(base, lstm=size)
    assert dataclasses.replace(cfg, model=base.model) == base
    m = cfg.model
    assert m.sequence_model == "lstm" and m.layout == "one"
    assert m.lstm_hidden == {"cpu": 160, "paper": 512}[size]
    for field in ("obs_dims", "num_actions", "context_len", "d_model", "dropout",
                  "token_mask_prob", "obs_encoder"):
        assert getattr(m, field) == getattr(base.model, field), field
    assert cfg.to_dict()["model"]["sequence_model"] == "lstm"
    assert "sequence_model" not in base.to_dict()["model"]  # the stored transformer dict
    with pytest.raises(ValueError, match="LSTM size"):
        lstm_like(base.model, "huge")


def test_ad_only_drops_ed_and_the_refresh_check_only():
    base = darkroom.quick()
    cfg = with_overrides(base, lstm="cpu", ad_only=True)
    assert cfg.train_ed is None and cfg.eval.refresh_check is None
    assert base.train_ed is not None and base.eval.refresh_check is not None
    assert dataclasses.replace(cfg, model=base.model, train_ed=base.train_ed,
                               eval=base.eval) == base
    with pytest.raises(ValueError, match="ad_only drops the refresh check"):
        with_overrides(base, refresh_seeds=5, ad_only=True)


def test_lstm_size_flag_sizes_lstm_ad_and_names_its_directory():
    presets = key_to_door.PRESETS
    cfg, out = resolve("key_to_door", presets, Args(model="lstm"))
    assert cfg.model.lstm_hidden == 160 and out == Path("runs/key_to_door-lstm")
    cfg, out = resolve("key_to_door", presets, Args(model="lstm", lstm_size="paper", seeds=3))
    assert cfg.model.lstm_hidden == 512 and cfg.model.lstm_head == (256, 256)
    assert out == Path("runs/key_to_door-lstm-paper") and cfg.train_seeds == 3
    cfg, out = resolve("key_to_door", presets, Args(preset="paper", model="lstm",
                                                    lstm_size="paper", first_seed=1))
    assert cfg.model.lstm_hidden == 512 and out == Path("runs/key_to_door-lstm-seed1")
    with pytest.raises(SystemExit, match="--lstm-size paper sizes LSTM-AD: add --model lstm"):
        resolve("key_to_door", presets, Args(lstm_size="paper"))


def test_wide_size_is_the_width_sweeps_variant():
    # `--lstm-size wide` must train exactly the model the Key-to-Door width sweep chose on its
    # validation pairs, so the sweep's trained seeds are this run's
    from adjax.experiments.sweep import apply
    cfg, out = resolve("key_to_door", key_to_door.PRESETS,
                       Args(model="lstm", lstm_size="wide", ad_only=True))
    swept = apply(key_to_door.quick(), [
        "train_ed=null", "model.sequence_model=lstm", "model.layout=one", "model.lstm_layers=1",
        "model.lstm_hidden=160", "model.lstm_head=[128,128]", "model.lstm_hidden=512"])
    assert cfg.model == swept.model and cfg.train_ad == swept.train_ad
    assert out == Path("runs/key_to_door-lstm-wide")
