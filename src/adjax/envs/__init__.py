"""Environments of Laskin et al. (2023) as gymnax Environments, with their task sets."""

from adjax.envs.common import check_action, checked_step
from adjax.envs.darkroom import DarkRoom, DarkRoomParams, DarkRoomState
from adjax.envs.registry import ENV_NAMES, make, optimal_return, sample_tasks, task_split

__all__ = [
    "ENV_NAMES", "DarkRoom", "DarkRoomParams", "DarkRoomState", "check_action", "checked_step",
    "make", "optimal_return", "sample_tasks", "task_split",
]
