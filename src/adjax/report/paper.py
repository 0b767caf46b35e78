"""The paper's numbers (Laskin et al. 2023, read off Figs. 3-4, about ±1% of the axis)."""

# env -> method -> {episode (1-based): mean return on held-out tasks}; "source" is the paper's
# source (PAPER_SOURCE; set beside ours only when ours is that algorithm)
PAPER_CURVES: dict[str, dict[str, dict[int, float]]] = {
    "darkroom": {
        "AD": {1: 1.3, 200: 9.6, 400: 12.9, 1000: 14.1},
        "ED": {1: 2.0, 1000: 0.75},
        "source": {1: 0.3, 1000: 0.8},
        "RL2": {1000: 14.7},
    },
    "darkroom-hard": {
        "AD": {1: 0.04, 200: 0.40, 1000: 0.68},
        "ED": {1000: 0.06},
        "RL2": {1000: 0.70},
    },
    "key-to-door": {
        "AD": {1: 0.44, 200: 1.66, 1000: 1.81},
        "ED": {1: 0.18, 1000: 0.58},
        "source": {1: 0.30, 1000: 0.70},
        "RL2": {1000: 1.87},
    },
    "watermaze": {  # return = the fraction of episodes that reach the platform
        "AD": {1: 0.16, 160: 0.84},
        "source": {1: 0.10, 160: 0.56},
        "RL2": {160: 0.97},
    },
}

# The paper's source algorithm per env, as our source names begin (A2C is A3C run synchronously).
PAPER_SOURCE = {"darkroom": "A2C", "darkroom-hard": "A2C", "key-to-door": "A2C",
                "watermaze": "DQN"}


# Fig. 3 (adversarial bandit): normalised score (r - r_random) / (r_UCB - r_random) per test split.
PAPER_SCORES: dict[str, dict[str, dict[str, float]]] = {
    "bandit": {
        "AD": {"odd": 0.98, "even": 0.83, "uniform": 0.87},
        "ED": {"odd": 0.48, "even": -0.47, "uniform": 0.01},
        "RL2": {"odd": 1.05, "even": -0.47, "uniform": 0.83},
    },
}


# Fig. 5 (Dark Room, held-out goals): AD's return after 25k env steps (1250 episodes) from a prompt
# of demonstrations at each fraction of the optimal return; ED stays near the demonstrations' level.
PAPER_PROMPTING = {"steps": 25_000, "AD": {0.05: 13.6, 0.25: 15.9, 0.5: 16.2, 0.75: 16.5,
                                          0.95: 16.5}}


def paper_value(env: str, method: str, episode: int) -> float | None:
    """The paper's number for (env, method) at `episode`, or None if the paper gives none there."""
    return PAPER_CURVES.get(env, {}).get(method, {}).get(episode)
