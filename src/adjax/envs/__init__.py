"""Environments of Laskin et al. (2023) as gymnax Environments, with their task sets."""

from adjax.envs.bandit import Bandit, BanditParams
from adjax.envs.common import check_action, checked_step, stores_state
from adjax.envs.darkroom import DarkRoom, DarkRoomParams, DarkRoomState
from adjax.envs.key_to_door import KeyToDoor, KeyToDoorParams, KeyToDoorState
from adjax.envs.registry import (
    ENV_NAMES,
    GRID_ENVS,
    SPLITS,
    has_task_sets,
    make,
    optimal_return,
    sample_tasks,
    task_split,
    tasks_for,
)
from adjax.envs.watermaze import Watermaze, WatermazeParams, WatermazeState

__all__ = [
    "ENV_NAMES", "GRID_ENVS", "Bandit", "BanditParams", "DarkRoom", "DarkRoomParams",
    "DarkRoomState", "KeyToDoor", "KeyToDoorParams", "KeyToDoorState", "check_action",
    "SPLITS", "checked_step", "has_task_sets", "make", "optimal_return", "sample_tasks",
    "stores_state", "task_split", "tasks_for", "Watermaze", "WatermazeParams", "WatermazeState",
]
