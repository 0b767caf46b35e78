"""Tokenisation (`step_inputs`) and the causal AD transformer with a KV cache."""

from adjax.model.config import ModelConfig, cpu_model, paper_model
from adjax.model.tokens import StepInputs, step_inputs
from adjax.model.transformer import (
    ADTransformer,
    Cache,
    attention_weights,
    init_cache,
    init_params,
)

__all__ = ["ADTransformer", "Cache", "ModelConfig", "StepInputs", "attention_weights", "cpu_model",
           "init_cache", "init_params", "paper_model", "step_inputs"]
