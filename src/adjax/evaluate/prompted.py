"""Prompting with demonstrations (Laskin et al. 2023, Fig. 5): the source's episodes of a chosen
quality as an agent's first context, and the agent's in-context returns after them
(`adjax.experiments.prompting` runs it on an experiment's trained AD and ED).

Demonstrations (the rule, also written into results.json "prompt"): for each held-out task and
evaluation seed, the experiment's source algorithm (experiment.json "source", in its own
configuration: the streams and episodes of one training history before any subsampling) learns
the task from scratch with the pair's key. Its S streams x E episodes give S*E episode returns.
For a level x, the distance of an episode is |return - x * optimal return of the task|; the P
episodes of smallest distance are taken (ties: the earlier stream, then the earlier episode;
repeated in that order when S*E < P), and put in the prompt in their history order (stream, then
episode), whole episodes of (o_t, a_t, r_t). P (`--prompt-episodes`) defaults to
(context_len - b) // L, b the experiment's context refresh (default one episode, L steps): the
context is then full but for the b steps the agent fills before its next refresh; with b = L that
is context_len // L - 1 episodes. The loop (`adjax.evaluate.loop`) keeps the last c - b steps of a
prompt, so a longer one is cut from the front; results record the steps given and those in
context. The prompt leaves the context as the agent's own steps replace it (after c - b steps).
Selecting episodes by their return is fine here: they are test-time inputs, not training data.

Keys: the demonstrations of task i, seed s come from `pair_keys(fold_in(key(0), KEYS["demo"]))`,
AD's and ED's rollouts (every level, every training seed) from `pair_keys(fold_in(key(0),
KEYS["act"]))`: the same keys for both methods and all levels. Sampling at temperature 1.
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from tqdm.auto import tqdm

from adjax import envs, sources
from adjax.evaluate.baselines import optimal_returns
from adjax.evaluate.loop import Prompt, in_context
from adjax.evaluate.results import DEFAULT_BATCH, over_tasks_and_seeds, pair_keys

TEMPERATURE = 1.0
# fold_in(key(0), KEYS[name]) roots the pair keys of the demonstrations and of the rollouts
# (AD and ED alike); distinct from adjax.evaluate.results.CURVE_KEYS.
KEYS = {"demo": 200, "act": 201}
DEMO_BATCH = 16  # task x seed pairs per demonstration call (a source run's history is in memory)

RULE = ("for each held-out task and evaluation seed, the source learns the task from scratch "
        "(its own configuration); for level x, its P episodes whose returns are nearest x * the "
        "task's optimal return (ties: earlier stream, then earlier episode; repeated when it has "
        "fewer than P) form the prompt in history order; P defaults to (context_len - b) // L, "
        "b the context refresh (default L), the context keeping the last context_len - b steps "
        "of a prompt")


# ---------------------------------------------------------------------------------------------
# Demonstrations


@functools.cache
def demo_fn(source_cfg, env, levels: tuple[float, ...], num_prompt: int):
    """fn(_, key, env_params) -> float32[levels * D]: the source learns the task from scratch
    with `key`; per level the packed prompt (`unpack_demos`): obs [P*L, O], actions [P*L],
    rewards [P*L], the chosen episodes' returns [P] and flat indices s * E + e [P]. Memoised, so
    one compilation serves every chunk."""
    train = sources.module_of(source_cfg).make_train(source_cfg, env)
    L, P = env.episode_len, num_prompt

    def fn(_, key, params):
        _, hist = train(key, params)
        S, T = hist.rewards.shape
        E = T // L
        per_ep = lambda x: x[:, : E * L].reshape(S * E, L, *x.shape[2:])  # noqa: E731
        obs, act, rew = per_ep(hist.obs), per_ep(hist.actions), per_ep(hist.rewards)
        returns = rew.sum(axis=1)  # [S*E], episode s * E + e
        opt = envs.optimal_return(env.name, params.task)
        packed = []
        for level in levels:
            order = jnp.argsort(jnp.abs(returns - level * opt), stable=True)
            pick = jnp.sort(order[jnp.arange(P) % (S * E)])  # history order
            packed += [obs[pick].reshape(-1), act[pick].reshape(-1), rew[pick].reshape(-1),
                       returns[pick], pick]
        return jnp.concatenate([x.astype(jnp.float32) for x in packed])

    return fn


def unpack_demos(packed_NxSxX: np.ndarray, num_levels: int, num_prompt: int, episode_len: int,
                 obs_dim: int) -> dict:
    """`demo_fn` outputs [N, S, levels * D] -> {"obs" int[lv, N, S, P*L, O], "actions" int[lv, N,
    S, P*L], "rewards" float[lv, N, S, P*L], "returns" float[lv, N, S, P], "episodes" int[lv, N, S,
    P]} (float32 carries these small integers exactly)."""
    N, S, _ = packed_NxSxX.shape
    K = num_prompt * episode_len
    sizes = {"obs": K * obs_dim, "actions": K, "rewards": K, "returns": num_prompt,
             "episodes": num_prompt}
    x = np.moveaxis(packed_NxSxX.reshape(N, S, num_levels, -1), 2, 0)
    assert x.shape[-1] == sum(sizes.values()), (x.shape, sizes)
    out, at = {}, 0
    for name, n in sizes.items():
        out[name] = x[..., at: at + n]
        at += n
    out["obs"] = out["obs"].reshape(num_levels, N, S, K, obs_dim).astype(np.int64)
    out["actions"] = out["actions"].astype(np.int64)
    out["episodes"] = out["episodes"].astype(np.int64)
    return out


def make_demonstrations(source_cfg, env_name: str, env, params, tasks, levels, num_seeds: int,
                        num_prompt: int, progress: bool = True) -> dict:
    """The prompts of every level x task x seed by source_cfg's algorithm (JSON-ready; see the
    module docstring)."""
    fn = demo_fn(source_cfg, env, tuple(levels), num_prompt)
    key = jax.random.fold_in(jax.random.key(0), KEYS["demo"])
    bar = tqdm(total=tasks.shape[0] * num_seeds, desc="demonstrations", unit="pair",
               disable=not progress)
    packed = over_tasks_and_seeds(fn, key, env, params, tasks, num_seeds, DEMO_BATCH,
                                  on_chunk=bar.update)
    bar.close()
    obs_dim = int(np.prod(env.observation_space(params).shape))
    d = unpack_demos(packed, len(levels), num_prompt, env.episode_len, obs_dim)
    opt = optimal_returns(env_name, tasks)
    return {**{k: v.tolist() for k, v in d.items()},
            "optimal": opt.tolist(), "level_measured": [
                float((d["returns"][i] / opt[:, None, None]).mean()) for i in range(len(levels))]}


# ---------------------------------------------------------------------------------------------
# Prompted evaluation


@functools.cache
def prompted_fn(env, num_episodes: int, refresh_every: int | None, temperature: float):
    """fn((agent, table), key, env_params) -> float32[num_episodes]: the agent in context after
    the prompt of its task x seed pair. `over_tasks_and_seeds` passes fn only a pair's key and
    env params, so the pair's prompt is looked up by its key in `table` = (key data uint32[N*S,
    2] of the same `pair_keys`, Prompt [N*S, ...]); a key not in the table gives NaN returns.
    Memoised: one object (and one compilation) for every level, method and training seed."""

    def fn(arg, key, params):
        agent, (key_data, prompts) = arg
        hit = jnp.all(key_data == jax.random.key_data(key)[None], axis=-1)
        prompt = jax.tree.map(lambda x: x[jnp.argmax(hit)], prompts)
        ret = in_context(key, agent, env, params, num_episodes, refresh_every=refresh_every,
                         temperature=temperature, prompt=prompt)
        return jnp.where(jnp.any(hit), ret, jnp.nan)

    return fn


def prompt_table(demos: dict, level_index: int, key, num_tasks: int, num_seeds: int):
    """(key data uint32[N*S, 2], Prompt [N*S, P*L, ...]) of one level, rows in the order of
    `pair_keys(key, N, S)` flattened (task major)."""
    key_data = jax.random.key_data(pair_keys(key, num_tasks, num_seeds).reshape(-1))
    rows = lambda name: np.asarray(demos[name][level_index]).reshape(  # noqa: E731
        num_tasks * num_seeds, *np.shape(demos[name][level_index])[2:])
    return key_data, Prompt(jnp.asarray(rows("obs"), jnp.int32),
                            jnp.asarray(rows("actions"), jnp.int32),
                            jnp.asarray(rows("rewards"), jnp.float32))


def evaluate_prompted(agent, demos: dict, env, params, tasks, num_seeds: int, num_episodes: int,
                      refresh_every: int | None, batch_size: int = DEFAULT_BATCH,
                      on_chunk=None) -> np.ndarray:
    """One agent from every level's prompts -> returns float32[levels, N, S, E] (keys: KEYS["act"],
    the same for any agent)."""
    fn = prompted_fn(env, num_episodes, refresh_every, TEMPERATURE)
    key = jax.random.fold_in(jax.random.key(0), KEYS["act"])
    n = tasks.shape[0]
    out = []
    for i in range(len(demos["returns"])):
        table = prompt_table(demos, i, key, n, num_seeds)
        out.append(over_tasks_and_seeds(fn, key, env, params, tasks, num_seeds, batch_size,
                                        on_chunk=on_chunk, agent=(agent, table)))
    out = np.stack(out)
    if np.isnan(out).any():
        raise RuntimeError("a task x seed pair found no prompt under its key")
    return out
