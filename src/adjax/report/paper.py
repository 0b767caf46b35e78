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

# Experiments whose paper figure is not their env's Fig. 4 curves: the single-stream study (Fig. 6,
# Key-to-Door, 50-step episodes): AD trained on every 10th episode of single-stream A3C histories,
# 1.70 after 10k test-time env steps (episode 200) and 1.82 after 50k; the single-stream source
# from scratch 1.21 after 10k and 1.35 after 50k (its episodes 200 and 1000).
PAPER_EXPERIMENT_CURVES: dict[str, dict[str, dict[int, float]]] = {
    "single_stream": {"AD": {200: 1.70, 1000: 1.82}, "source": {200: 1.21, 1000: 1.35}},
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
        "RL2-Transformer": {"odd": 0.95, "even": -0.28, "uniform": 0.70},
    },
}


# Fig. 5 (Dark Room, held-out goals): AD's return after 25k env steps (1250 episodes) from a prompt
# of demonstrations at each fraction of the optimal return; ED stays near the demonstrations' level.
PAPER_PROMPTING = {"steps": 25_000, "AD": {0.05: 13.6, 0.25: 15.9, 0.5: 16.2, 0.75: 16.5,
                                          0.95: 16.5}}


def paper_curves(results: dict) -> dict[str, dict[int, float]]:
    """The paper's curves to set beside an experiment's results (its "experiment" and "env"
    fields): its own figure's where the paper has one for it, else its env's Fig. 4 curves."""
    return PAPER_EXPERIMENT_CURVES.get(results.get("experiment"),
                                       PAPER_CURVES.get(results.get("env"), {}))


def paper_value(env: str, method: str, episode: int) -> float | None:
    """The paper's number for (env, method) at `episode`, or None if the paper gives none there."""
    return PAPER_CURVES.get(env, {}).get(method, {}).get(episode)
