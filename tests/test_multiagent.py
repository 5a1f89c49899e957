"""Multi-agent envs: PettingZoo's own tests on every registered id, the scripted pairs, messages, two-agent worlds."""

from __future__ import annotations

import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest

pytest.importorskip("pettingzoo")
import pettingzoo
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test, seed_test

import fusiongym  # noqa: F401  (registers the ids)
from fusiongym.envs import multiagent_guide_follower, multiagent_knowledge_split
from fusiongym.envs.core import InvalidActionError
from fusiongym.envs.multiagent import (
    GuideFollowerBatch,
    GuideFollowerEnv,
    KnowledgeSplitBatch,
    KnowledgeSplitEnv,
    split_facts,
)
from fusiongym.envs.multiagent_registration import multiagent_env_ids
from fusiongym.envs.ontology import load_ontology
from fusiongym.envs.rendering import AGENT_RGB, COLOUR_RGB, WALL_RGB
from fusiongym.envs.vocab import get_vocab
from fusiongym.envs.world import DONE, FORWARD, LEFT

IDS = multiagent_env_ids()
SMALL = {"fusiongym/GuideFollower-v0": GuideFollowerEnv, "fusiongym/KnowledgeSplit-v0": KnowledgeSplitEnv}


def _quiet(fn, *args, **kwargs):
    """PettingZoo's tests warn about style choices the suite makes on purpose (Dict observations, named agents)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*args, **kwargs)


# --- registry and PettingZoo's own tests --------------------------------------------------------------------
def test_every_id_is_registered_with_both_apis() -> None:
    assert {"fusiongym/GuideFollower-v0", "fusiongym/GuideFollower-Large-v0", "fusiongym/KnowledgeSplit-v0",
            "fusiongym/KnowledgeSplit-Large-v0"} == set(IDS)
    for env_id in IDS:
        assert isinstance(pettingzoo.make("parallel", env_id), pettingzoo.ParallelEnv)
        assert isinstance(pettingzoo.make("aec", env_id), pettingzoo.AECEnv)


@pytest.mark.parametrize("module", [multiagent_guide_follower, multiagent_knowledge_split])
def test_module_constructors(module) -> None:
    assert isinstance(module.parallel_env(split="test"), pettingzoo.ParallelEnv)
    assert isinstance(module.env(), pettingzoo.AECEnv) and isinstance(module.raw_env(), pettingzoo.AECEnv)
    assert isinstance(module.raw_env, type)
    assert module.parallel_env(split="test").core.level.split == "test"


@pytest.mark.parametrize("env_id", IDS)
def test_pettingzoo_api_test(env_id: str) -> None:
    _quiet(api_test, pettingzoo.make("aec", env_id), num_cycles=300)


@pytest.mark.parametrize("env_id", IDS)
def test_pettingzoo_parallel_api_test(env_id: str) -> None:
    _quiet(parallel_api_test, pettingzoo.make("parallel", env_id), num_cycles=300)


@pytest.mark.parametrize("env_id", IDS)
def test_pettingzoo_seed_tests(env_id: str) -> None:
    _quiet(seed_test, lambda: pettingzoo.make("aec", env_id), num_cycles=100)
    _quiet(parallel_seed_test, lambda: pettingzoo.make("parallel", env_id), num_cycles=100)


@pytest.mark.parametrize("env_id", IDS)
def test_observations_inside_their_spaces_at_every_step(env_id: str) -> None:
    env = pettingzoo.make("parallel", env_id, max_steps=12)  # short episodes: resets and time limits too
    rng = np.random.default_rng(0)
    for space in (env.action_space(a) for a in env.possible_agents):
        space.seed(0)
    ended = 0
    for episode in range(4):
        obs, infos = env.reset(seed=episode)
        assert set(infos) == set(env.possible_agents)
        while True:
            for agent, o in obs.items():
                assert env.observation_space(agent).contains(o), f"{agent}: observation outside its space"
            actions = {a: env.action_space(a).sample() for a in env.agents}
            if rng.random() < 0.5 and "follower" in actions:
                actions["follower"] = FORWARD
            obs, *_ = env.step(actions)
            if not env.agents:
                ended += 1
                for agent, o in obs.items():
                    assert env.observation_space(agent).contains(o)
                break
    assert ended == 4


@pytest.mark.parametrize("env_id", list(SMALL))
def test_aec_equals_parallel(env_id: str) -> None:
    par, aec = pettingzoo.make("parallel", env_id), pettingzoo.make("aec", env_id)
    obs, _ = par.reset(seed=3)
    aec.reset(seed=3)
    for space in (par.action_space(a) for a in par.possible_agents):
        space.seed(1)
    for _ in range(30):
        actions = {a: par.action_space(a).sample() for a in par.agents}
        for agent in aec.agent_iter(len(aec.agents)):
            o, *_ = aec.last()
            for key in o:
                assert np.array_equal(o[key], obs[agent][key])
            aec.step(actions[agent])
        obs, rewards, *_ = par.step(actions)
        assert rewards == aec.rewards
        if not par.agents:
            break


@pytest.mark.parametrize("core_class", [GuideFollowerBatch, KnowledgeSplitBatch])
def test_world_i_of_a_batch_equals_a_single_env_seeded_seed_plus_i(core_class) -> None:
    env_class = GuideFollowerEnv if core_class is GuideFollowerBatch else KnowledgeSplitEnv
    core, singles = core_class(3), [env_class() for _ in range(3)]
    for i, env in enumerate(singles):
        core.reset_world(i, np.random.default_rng(100 + i))
        env._np_random = np.random.default_rng(100 + i)
        env.reset()
    rng = np.random.default_rng(0)
    for _ in range(15):
        batched = core.observe()
        for i, env in enumerate(singles):
            single = env._observations()
            for agent in core.agents:
                for key in single[agent]:
                    assert np.array_equal(batched[agent][key][i], single[agent][key]), (agent, key)
        actions = {a: np.stack([core.action_spaces[a].sample() for _ in range(3)]) for a in core.agents}
        actions[core.agents[-1]][..., 0 if core_class is KnowledgeSplitBatch else slice(None)] = rng.integers(0, 3, 3)
        reward, terminated, truncated, _ = core.step(actions)
        for i, env in enumerate(singles):
            if env.agents:
                _, rewards, term, *_ = env.step({a: actions[a][i] for a in core.agents})
                assert np.isclose(next(iter(rewards.values())), reward[i])
                assert next(iter(term.values())) == terminated[i]
        if terminated.any() or truncated.any():
            break


# --- scripted pairs -----------------------------------------------------------------------------------------
def _guide_follower_success(episodes: int, **kwargs) -> float:
    env = GuideFollowerEnv(**kwargs)
    wins = 0
    for episode in range(episodes):
        obs, _ = env.reset(seed=1000 + episode)
        while env.agents:
            actions = {"guide": env.oracle_guide_action(), "follower": env.obedient_follower_action(obs["follower"])}
            obs, _, _, _, infos = env.step(actions)
        wins += infos["follower"]["success"]
    return wins / episodes


def _split_pair_success(episodes: int, **kwargs) -> float:
    env = KnowledgeSplitEnv(**kwargs)
    wins = 0
    for episode in range(episodes):
        obs, _ = env.reset(seed=1000 + episode)
        while env.agents:
            obs, _, _, _, infos = env.step(env.scripted_actions(obs))
        wins += infos["agent_0"]["success"]
    return wins / episodes


@pytest.mark.parametrize("split", ["train", "test"])
def test_oracle_guide_and_obedient_follower_succeed(split: str) -> None:
    assert _guide_follower_success(150, split=split) >= 0.99


@pytest.mark.parametrize("level", ["GoTo", "Unlock", "Avoid"])
def test_oracle_guide_on_other_levels(level: str) -> None:
    assert _guide_follower_success(40, level=level, split="test") >= 0.99


def test_follower_without_messages_fails() -> None:
    assert _guide_follower_success(30, split="test", zero_messages=True, max_steps=40) <= 0.1


@pytest.mark.parametrize("split", ["train", "test"])
def test_scripted_split_pair_succeeds_and_needs_its_messages(split: str) -> None:
    with_messages = _split_pair_success(150, split=split)
    without = _split_pair_success(150, split=split, zero_messages=True)
    assert with_messages >= 0.99, with_messages
    assert without <= 0.25 and with_messages - without >= 0.6, (with_messages, without)


def test_scripted_split_pair_large() -> None:
    assert _split_pair_success(40, split="test", num_rows=3, num_cols=3, num_distractors=4) >= 0.97


# --- messages, knowledge, bodies ----------------------------------------------------------------------------
def test_guide_message_reaches_the_follower_one_step_later() -> None:
    vocab = get_vocab()
    env = GuideFollowerEnv()
    obs, infos = env.reset(seed=0)
    assert not obs["follower"]["message"].any() and infos["follower"]["message"] == ""
    said = np.array([vocab.id("left"), vocab.id("red"), 0, 0])
    obs, *_, infos = env.step({"guide": said, "follower": DONE})
    assert obs["follower"]["message"].tolist() == said.tolist() and infos["follower"]["message"] == "left red"
    assert env.obedient_follower_action(obs["follower"]) == LEFT
    muted = GuideFollowerEnv(zero_messages=True)
    muted.reset(seed=0)
    obs, *_ = muted.step({"guide": said, "follower": DONE})
    assert not obs["follower"]["message"].any()


def test_restricted_message_tokens() -> None:
    env = GuideFollowerEnv(message_tokens=["left", "right", "forward", "pickup", "drop", "toggle", "done"],
                           message_len=1)
    assert env.action_space("guide").nvec.tolist() == [8] and env.message_tokens[1] == "left"
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step({"guide": np.array([2]), "follower": DONE})
    assert obs["follower"]["message"].tolist() == [get_vocab().id("right")]
    success = _guide_follower_success(20, message_tokens="left right forward pickup drop toggle done", message_len=1)
    assert success >= 0.99


def test_guide_sees_the_whole_map_follower_only_its_view() -> None:
    env = GuideFollowerEnv()
    obs, infos = env.reset(seed=0)
    assert set(obs["guide"]) == {"image", "mission", "facts"} and set(obs["follower"]) == {"image", "message"}
    assert obs["guide"]["image"].shape == (64, 64, 3) and obs["follower"]["image"].shape == (56, 56, 3)
    assert obs["guide"]["facts"].any() and infos["guide"]["mission"] == env.episode.mission
    large = pettingzoo.make("parallel", "fusiongym/GuideFollower-Large-v0")
    assert large.observation_space("guide")["image"].shape == (88, 88, 3)


def test_each_agent_holds_one_hop_of_the_rule() -> None:
    env = KnowledgeSplitEnv(split="test")
    obs, infos = env.reset(seed=4)
    vocab = get_vocab()
    rel0 = {vocab.token(int(r)) for r in obs["agent_0"]["facts"][:, 1] if r}
    rel1 = {vocab.token(int(r)) for r in obs["agent_1"]["facts"][:, 1] if r}
    assert rel0 == {"is_a"} and rel1 == {"has_shape", "has_colour"}
    halves = split_facts(env.episode.shown)
    assert sorted(halves[0].facts + halves[1].facts, key=str) == sorted(env.episode.shown.facts, key=str)
    assert infos["agent_0"]["mission"] != infos["agent_1"]["mission"]
    test_kinds = {k.name for k in load_ontology().kinds if k.split == "test"}
    assert {o.kind for o in env.episode.layout.objects} <= test_kinds


def test_agents_block_and_see_each_other() -> None:
    env = KnowledgeSplitEnv()
    core = env.core
    for seed in range(20):  # a seed where the cell in front of agent_0 is free
        env.reset(seed=seed)
        if core.free(core.front(0))[0]:
            break
    core.pos[0, 1] = core.front(0)[0]  # stand agent_1 right in front of agent_0
    before = core.pos[0, 0]
    env.step({"agent_0": np.array([FORWARD, 0, 0, 0, 0]), "agent_1": np.array([DONE, 0, 0, 0, 0])})
    assert core.pos[0, 0] == before  # blocked
    core._enter(0)
    tiles = core.batch.ego_tiles()[0]
    core._leave(0)
    v = core.batch.view_size
    assert core.batch.tiles.agent_base <= tiles[v - 2, v // 2] < core.batch.tiles.agent_base + 4


def _cell_pixels(frame: np.ndarray, cell: tuple[int, int], ts: int) -> np.ndarray:
    """(ts * ts, 3) pixels of grid cell (y, x) of a top-down map drawn at ``ts`` pixels a tile from the top left."""
    y, x = cell
    return frame[y * ts:(y + 1) * ts, x * ts:(x + 1) * ts].reshape(-1, 3)


def _heading(pixels: np.ndarray, ts: int) -> int:
    """Which way the agent's triangle drawn in a cell's pixels points (0 east, 1 south, 2 west, 3 north): its
    orange area lies mostly on the side away from its tip."""
    rows, cols = np.divmod(np.flatnonzero((pixels == AGENT_RGB).all(axis=1)), ts)
    away = np.array([rows.mean(), cols.mean()]) - (ts - 1) / 2  # (dy, dx) from the cell's centre
    return int(np.argmax([-(away @ np.array(step)) for step in [(0, 1), (1, 0), (0, -1), (-1, 0)]]))


def test_render_frames() -> None:
    """Each frame shows the map as the episode laid it out (every agent where it stands, facing its way; every object
    in its colour at its cell) beside the text, and follows the env as it steps."""
    ts = 16  # render_tile_size
    for env_id in SMALL:
        env = pettingzoo.make("parallel", env_id, render_mode="rgb_array")
        env.reset(seed=0)
        frame = env.render()
        assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3
        episode = env.core.sim.episodes[0]
        bodies = {episode.layout.agent_pos: episode.layout.agent_dir}
        if env_id == "fusiongym/KnowledgeSplit-v0":
            bodies[episode.partner_pos] = episode.partner_dir
        height, width = episode.layout.cells.shape
        orange = {(y, x) for y in range(height) for x in range(width)
                  if (_cell_pixels(frame, (y, x), ts) == AGENT_RGB).all(axis=1).any()}
        assert orange == set(bodies), env_id  # the agents, and nothing else, drawn in the agent's colour
        for cell, direction in bodies.items():
            assert _heading(_cell_pixels(frame, cell, ts), ts) == direction, (env_id, cell)
        for obj, cell in zip(episode.layout.objects, episode.layout.object_pos, strict=True):
            assert (_cell_pixels(frame, cell, ts) == COLOUR_RGB[obj.colour]).all(axis=1).any(), (env_id, obj, cell)
        assert (_cell_pixels(frame, (0, 0), ts) == WALL_RGB).all()
        beside = frame[:, width * ts:]  # the text panel: the missions (and facts) in light letters
        assert beside.shape[1] >= 280 and (beside.min(axis=2) > 200).sum() > 500, env_id
    # GuideFollower: the follower's turn and the guide's words show in the next frame
    env = pettingzoo.make("parallel", "fusiongym/GuideFollower-v0", render_mode="rgb_array")
    env.reset(seed=0)
    before = env.render()
    episode = env.core.sim.episodes[0]
    said = np.array([get_vocab().id("left"), get_vocab().id("red"), 0, 0])  # the default alphabet: the vocabulary
    env.step({"guide": said, "follower": LEFT})
    after = env.render()
    cell = episode.layout.agent_pos
    assert _heading(_cell_pixels(after, cell, ts), ts) == (episode.layout.agent_dir - 1) % 4
    said_strip = (before[-22:].min(axis=2) > 200).sum(), (after[-22:].min(axis=2) > 200).sum()
    assert said_strip[1] > said_strip[0] > 0  # "guide said: -", then "guide said: left red"


# --- errors that name what is allowed -----------------------------------------------------------------------
def test_bad_actions_name_what_is_allowed() -> None:
    gf = GuideFollowerEnv()
    gf.reset(seed=0)
    with pytest.raises(InvalidActionError, match="left"):
        gf.step({"guide": np.zeros(4, np.int64), "follower": 7})
    with pytest.raises(InvalidActionError, match="4 integers"):
        gf.step({"guide": np.zeros(3, np.int64), "follower": 0})
    with pytest.raises(InvalidActionError, match="0..191"):
        gf.step({"guide": np.array([0, 0, 0, 500]), "follower": 0})
    with pytest.raises(KeyError, match="follower"):
        gf.step({"guide": np.zeros(4, np.int64)})
    with pytest.raises(KeyError, match="guide"):
        gf.action_space("leader")
    ks = KnowledgeSplitEnv()
    with pytest.raises(gym.error.ResetNeeded):
        ks.step({"agent_0": np.zeros(5, np.int64), "agent_1": np.zeros(5, np.int64)})
    ks.reset(seed=0)
    with pytest.raises(InvalidActionError, match="the move"):
        ks.step({"agent_0": np.array([9, 0, 0, 0, 0]), "agent_1": np.zeros(5, np.int64)})
    with pytest.raises(InvalidActionError, match="5 integers"):
        ks.step({"agent_0": 2, "agent_1": np.zeros(5, np.int64)})


def test_bad_kwargs_name_what_is_allowed() -> None:
    with pytest.raises(TypeError, match="message_len"):
        GuideFollowerEnv(mesage_len=2)
    with pytest.raises(ValueError, match="Fetch"):
        GuideFollowerEnv(level="Maze")
    with pytest.raises(ValueError, match="vocabulary"):
        GuideFollowerEnv(message_tokens=["left", "teleport"])
    with pytest.raises(ValueError, match="1 to 16"):
        KnowledgeSplitEnv(message_len=0)
    with pytest.raises(ValueError, match="at most 6"):
        KnowledgeSplitEnv(num_distractors=7)
    with pytest.raises(TypeError, match="zero_messages"):
        pettingzoo.make("parallel", "fusiongym/KnowledgeSplit-v0", level="GoTo")
    with pytest.raises(ValueError, match="split"):
        KnowledgeSplitEnv(split="valid")
    with pytest.raises(ValueError, match="render_mode"):
        GuideFollowerEnv(render_mode="human")


def test_import_registers_pettingzoo_ids_without_torch() -> None:
    code = (
        "import sys, fusiongym, pettingzoo; pettingzoo.make('parallel', 'fusiongym/KnowledgeSplit-v0').reset(seed=0); "
        "print('torch' in sys.modules, 'fusiongym/GuideFollower-v0' in pettingzoo.aec_registry)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]
