"""The prompting analysis (Fig. 5) at toy size: a tiny Dark Room run, AD and ED prompted with
demonstrations at two levels; results well-formed, demonstrations chosen by the stated rule, the
same keys for AD and ED, stages reused, a missing run refused before any compute."""

import dataclasses
import importlib
import json

import jax
import numpy as np
import pytest

from adjax import envs
from adjax.atomic import read_json
from adjax.evaluate import Prompt, in_context, load_agent
from adjax.evaluate.results import pair_keys, split_tasks
from adjax.experiments import darkroom, prompting
from adjax.experiments.runner import run_experiment

LEVELS, EPISODES, SEEDS = (0.05, 0.95), 2, 2


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """darkroom.tiny() evaluated on its held-out split only (the prompting analysis needs no
    other evaluation; this keeps the module near 60 s), then prompting at toy size."""
    root = tmp_path_factory.mktemp("prompting")
    cfg = darkroom.tiny()
    head = dataclasses.replace(cfg.eval.splits[0], baselines=("optimal",))
    cfg = dataclasses.replace(cfg, eval=dataclasses.replace(cfg.eval, splits=(head,),
                                                            refresh_check=None))
    run_experiment(cfg, root / "run", preset="tiny", progress=False)
    args = prompting.Args(run=root / "run", out=root / "prompting", levels=LEVELS,
                          episodes=EPISODES, seeds=SEEDS)
    return root, cfg, args, prompting.run_prompting(args, progress=False)


def test_results_fields_and_shapes(toy):
    root, cfg, args, res = toy
    out = args.out
    for rel in ("results.json", "summary.md", "figures/prompting.png", "demonstrations.json",
                "eval/ad/seed0.json", "eval/ed/seed0.json", "timings.json"):
        assert (out / rel).exists(), rel
    assert read_json(out / "results.json") == json.loads(json.dumps(res))
    tasks = split_tasks("darkroom", "test")
    opt = np.asarray(prompting.optimal_returns("darkroom", tasks))
    assert res["num_tasks"] == 16 and res["num_seeds"] == SEEDS and res["train_seeds"] == [0]
    assert res["levels"] == list(LEVELS) and res["temperature"] == 1.0
    assert res["optimal"]["mean"] == pytest.approx(opt.mean())
    for lv in LEVELS:
        label = prompting.label(lv)
        for method in ("AD", "ED"):
            c = res["curves"][label][method]
            assert np.shape(c["per_train_seed"]) == (1, EPISODES)
            assert np.shape(c["per_seed"]) == (SEEDS, EPISODES)
            assert np.all((np.asarray(c["per_seed"]) >= 0) & (np.asarray(c["per_seed"]) <= 20))
            assert res["summary"][label][method]["interval_over"] == "evaluation"
        d = res["demonstrations"][label]
        assert d["level"] == lv and np.shape(d["per_task_return"]) == (16,)
        assert 0 <= d["return_min"] <= d["return_mean"] <= d["return_max"] <= 20
    for m in ("ad", "ed"):
        e = json.loads((out / f"eval/{m}/seed0.json").read_text())
        assert np.shape(e["returns"]) == (len(LEVELS), 16, SEEDS, EPISODES)
        assert e["settings"]["temperature"] == 1.0 and e["settings"]["keys"] == prompting.KEYS
    text = (out / "summary.md").read_text()
    assert "| 0.05 |" in text and "| 0.95 |" in text and prompting.RULE in text


def test_prompt_fills_the_stated_steps(toy):
    """Context 40, refresh one episode (20 steps): the loop keeps 20 prompt steps, so P = 1
    whole episode, all of it in context; the stored prompts are that long, start each episode at
    the start cell, and their rewards sum to the returns reported."""
    _, cfg, args, res = toy
    p = res["prompt"]
    assert (p["episodes"], p["steps"], p["steps_in_context"]) == (1, 20, 20)
    assert p["context_len"] == cfg.model.context_len == 40 and p["rule"] == prompting.RULE
    d = json.loads((args.out / "demonstrations.json").read_text())
    obs, rew = np.asarray(d["obs"]), np.asarray(d["rewards"])
    assert obs.shape == (len(LEVELS), 16, SEEDS, 20, 2)
    assert np.all(obs[..., 0, :] == 4)  # each prompt episode starts at the centre (4, 4)
    np.testing.assert_array_equal(rew.sum(-1, keepdims=True), np.asarray(d["returns"]))


def test_demonstration_level_follows_the_asked_level(toy):
    """Higher asked level -> higher measured level, pair by pair; and one pair rechecked by
    hand: the source rerun with the pair's demonstration key, the chosen episode is the one
    nearest the target (first among ties)."""
    _, cfg, args, res = toy
    lo, hi = (res["demonstrations"][prompting.label(lv)]["level_measured"] for lv in LEVELS)
    assert lo < hi
    d = json.loads((args.out / "demonstrations.json").read_text())
    ret = np.asarray(d["returns"])  # [levels, N, S, P]
    assert np.all(ret[1] >= ret[0])
    env, params = envs.make("darkroom")
    tasks = split_tasks("darkroom", "test")
    i, s = 3, 1
    key = pair_keys(jax.random.fold_in(jax.random.key(0), prompting.KEYS["demo"]), 16, SEEDS)
    train = importlib.import_module("adjax.sources.qlearning").make_train(cfg.source, env)
    _, hist = jax.jit(train)(key[i, s], env.with_task(params, tasks[i]))
    per_ep = np.asarray(hist.rewards).reshape(-1, 20).sum(-1)  # [S*E], stream major
    opt = float(prompting.optimal_returns("darkroom", tasks[i:i + 1])[0])
    for li, lv in enumerate(LEVELS):
        want = int(np.argmin(np.abs(per_ep - lv * opt)))
        assert d["episodes"][li][i][s] == [want]
        assert d["returns"][li][i][s] == [per_ep[want]]


def test_same_keys_give_the_same_bits(toy):
    """A pair's AD and ED returns are in_context with the pair's key (fold_in, pair_keys) and
    its stored prompt, for both methods: the same keys, and the lookup found the right prompt."""
    root, _, args, _ = toy
    env, params = envs.make("darkroom")
    tasks = split_tasks("darkroom", "test")
    d = json.loads((args.out / "demonstrations.json").read_text())
    keys = pair_keys(jax.random.fold_in(jax.random.key(0), prompting.KEYS["act"]), 16, SEEDS)
    i, s, li = 5, 0, 1
    prompt = Prompt(np.asarray(d["obs"][li][i][s], np.int32),
                    np.asarray(d["actions"][li][i][s], np.int32),
                    np.asarray(d["rewards"][li][i][s], np.float32))
    for m in ("ad", "ed"):
        agent = load_agent(root / "run" / "runs" / m / "seed0")
        got = in_context(keys[i, s], agent, env, env.with_task(params, tasks[i]), EPISODES,
                         prompt=prompt)
        stored = json.loads((args.out / f"eval/{m}/seed0.json").read_text())["returns"]
        np.testing.assert_array_equal(np.asarray(got), np.asarray(stored[li][i][s]))


def test_paths_are_the_evaluated_pair(toy):
    """The paths picture's rows are held-out task 0, evaluation seed 0 of the evaluation: its
    agent returns equal the stored ones for that pair, and its prompt's are the stored
    demonstration's; the rows are AD and ED from the lowest and highest level."""
    _, _, args, _ = toy
    out = args.out
    assert (out / "figures" / "prompting_paths.png").stat().st_size > 0
    assert "![prompted paths](figures/prompting_paths.png)" in (out / "summary.md").read_text()
    pic = read_json(out / "prompting_paths.json")
    d = json.loads((out / "demonstrations.json").read_text())
    assert [(r["method"], r["level"]) for r in pic["rows"]] == [
        (m, lv) for m in ("AD", "ED") for lv in LEVELS]
    assert pic["task"] == np.asarray(split_tasks("darkroom", "test")[0]).tolist()
    for r in pic["rows"]:
        li = LEVELS.index(r["level"])
        stored = read_json(out / f"eval/{r['method'].lower()}/seed0.json")["returns"]
        np.testing.assert_allclose(r["returns"], stored[li][0][0], atol=1e-4)
        assert r["prompt_returns"] == d["returns"][li][0][0]
        first = np.asarray(r["shown"]["1"])
        assert first.shape == (21, 2) and np.all(first[0] == 4)  # starts at the centre


def test_rerun_reuses_every_stage(toy, capsys):
    _, _, args, res = toy
    again = prompting.run_prompting(args, progress=False)
    assert capsys.readouterr().out.count("already complete, reused") == 4
    assert again["curves"] == res["curves"]
    assert again["demonstrations"] == res["demonstrations"]


def test_publish_copies_the_small_results_and_keeps_notes(toy, tmp_path):
    """--publish: results, summary, timings, the paths and the figures copied (every stage
    reused), a NOTES.md already there kept, nothing else of the run (no evaluations)."""
    _, _, args, res = toy
    pub = tmp_path / "pub"
    pub.mkdir()
    (pub / "NOTES.md").write_text("notes")
    again = prompting.run_prompting(dataclasses.replace(args, publish=pub), progress=False)
    assert again["curves"] == res["curves"]
    got = sorted(str(f.relative_to(pub)) for f in pub.rglob("*") if f.is_file())
    assert got == ["NOTES.md", "figures/prompting.png", "figures/prompting_paths.png",
                   "prompting_paths.json", "results.json", "summary.md", "timings.json"]
    assert read_json(pub / "results.json")["curves"] == res["curves"]
    assert (pub / "NOTES.md").read_text() == "notes"


def test_missing_run_is_refused_before_any_compute(toy, tmp_path):
    root, _, _, _ = toy
    out = tmp_path / "out"
    with pytest.raises(FileNotFoundError, match="nowhere/experiment.json is missing"):
        prompting.main(["--run", str(tmp_path / "nowhere"), "--out", str(out)])
    half = tmp_path / "half"  # an experiment.json without its trained runs
    half.mkdir()
    (half / "experiment.json").write_text((root / "run" / "experiment.json").read_text())
    with pytest.raises(FileNotFoundError, match="runs/ad/seed0/config.json is missing"):
        prompting.main(["--run", str(half), "--out", str(out), "--prompt-episodes", "1"])
    shard = tmp_path / "shard"  # a shard's seeds start at its first_seed, not at 0
    shard.mkdir()
    exp = json.loads((root / "run" / "experiment.json").read_text())
    (shard / "experiment.json").write_text(json.dumps({**exp, "first_seed": 1}))
    with pytest.raises(FileNotFoundError, match="runs/ad/seed1/config.json is missing"):
        prompting.read_run(shard)
    assert not out.exists()
    with pytest.raises(ValueError, match="--levels must be distinct fractions"):
        prompting.run_prompting(prompting.Args(run=root / "run", out=out, levels=(0.5, 1.5)))
