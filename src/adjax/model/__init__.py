"""Tokenisation (`step_inputs`) and AD's sequence models: the causal transformer with a KV cache
(`ADTransformer`) and the LSTM (`ADLSTM`), chosen by `ModelConfig.sequence_model`."""

from adjax.model.config import (
    ModelConfig,
    cpu_lstm_model,
    cpu_model,
    lstm_like,
    paper_lstm_model,
    paper_model,
    with_image_encoder,
)
from adjax.model.lstm import ADLSTM, init_carry
from adjax.model.models import MODELS, init_params, make_model, num_weights
from adjax.model.tokens import StepInputs, mark_episode_starts, sown_state_pred, step_inputs
from adjax.model.transformer import ADTransformer, Cache, attention_weights, init_cache

__all__ = ["ADLSTM", "ADTransformer", "Cache", "MODELS", "ModelConfig", "StepInputs",
           "attention_weights", "cpu_lstm_model", "cpu_model", "init_cache", "init_carry",
           "init_params", "lstm_like", "make_model", "mark_episode_starts", "num_weights",
           "paper_lstm_model", "paper_model", "sown_state_pred", "step_inputs",
           "with_image_encoder"]
