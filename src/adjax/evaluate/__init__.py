"""In-context evaluation of AD/ED agents, baselines on the same tasks, result files and the CLI."""

from adjax.evaluate.agents import LSTMAgent, TransformerAgent, load_agent, make_agent
from adjax.evaluate.baselines import (
    UniformAgent,
    optimal_returns,
    random_policy,
    source_from_scratch,
    source_step_curve,
)
from adjax.evaluate.loop import (
    Agent,
    AgentSpec,
    PaddedSteps,
    Prompt,
    Trace,
    check_spaces,
    episode_length,
    episode_returns_by_done,
    in_context,
    in_context_trace,
    rollout,
)
from adjax.evaluate.results import EvalSpec, evaluate_run, evaluate_source_curve, summarize

__all__ = [
    "Agent",
    "AgentSpec",
    "EvalSpec",
    "LSTMAgent",
    "Prompt",
    "PaddedSteps",
    "Trace",
    "TransformerAgent",
    "UniformAgent",
    "check_spaces",
    "episode_length",
    "episode_returns_by_done",
    "evaluate_run",
    "evaluate_source_curve",
    "in_context",
    "in_context_trace",
    "load_agent",
    "make_agent",
    "optimal_returns",
    "random_policy",
    "rollout",
    "source_from_scratch",
    "source_step_curve",
    "summarize",
]
