"""Source RL algorithms, one file each: `make_train(cfg, env) -> train(key, env_params)`."""

from types import ModuleType

from adjax.sources import a2c, dqn, qlearning, ucb
from adjax.sources.common import History

SOURCES: dict[str, ModuleType] = {m.Config.NAME: m for m in (a2c, dqn, qlearning, ucb)}


def get(name: str) -> ModuleType:
    """The source module registered under `name` (its Config, make_train, make_expert)."""
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; known: {sorted(SOURCES)}")
    return SOURCES[name]


def module_of(cfg) -> ModuleType:
    """The source module a config belongs to."""
    return get(type(cfg).NAME)


__all__ = ["History", "SOURCES", "a2c", "dqn", "get", "module_of", "qlearning", "ucb"]
