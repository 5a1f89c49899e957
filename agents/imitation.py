"""Imitation of an expert into an SB3 policy: behaviour cloning and DAgger (BabyAI's imitation baseline).

The expert is any function that labels the current state of every world of a vector env with its action: a
level's reading oracle (``venv.native.oracle_actions``, which plans from the true world and so can label any state,
including states the learner led it into), or a multi-agent env's scripted partner. The learner is the policy of
an SB3 model built by :func:`fusiongym.agents.make_agent` (PPO's ``MultiInputPolicy`` with a ``FusionExtractor``),
so what it learns saves, loads, evaluates and fine-tunes like any PPO agent::

    venv = FusionSB3VecEnv("fusiongym/Fetch-v0", num_envs=64, seed=0)
    model = make_agent("ppo", venv, policy="fusion", fusion=FusionConfig.preset("reading"), seed=0)
    learner = Imitation(model, venv, expert=lambda: venv.native.oracle_actions(True), mix=0.5)
    learner.learn(1_000_000)

Each update steps every world ``rollout`` times with the expert's action or, with probability ``mix`` (DAgger's
learner share; 0 is plain behaviour cloning), the learner's own sampled action; labels every visited state with the
expert's action; and takes ``epochs`` passes of Adam over the last ``keep`` rollouts, in minibatches of
``batch_size`` (``None``: the whole memory as one batch), minimising the negative log-likelihood of the labels.
``mix_warmup`` ramps the learner share from 0 up to ``mix`` over that fraction of the budget.

``goal_loss`` > 0 adds an auxiliary task (UNREAL-style): a linear head on the policy's features names the cells of
the view that hold what the expert is after (``goal_cells``: a level's ``oracle_goal_cells``, e.g. the weapon
the monster's facts name), weighted by ``goal_loss`` against the action loss. Action labels say *what* to do;
the goal labels also say *why*, at every step, which is what a rule read from the facts needs: on Defeat the
decisive choice of weapon is a handful of the episode's actions. The head is used only in training.

A recurrent learner (a ``RecurrentPPO`` model, ``make_agent("recurrent_ppo", ...)``: an LSTM between the features and
the heads) keeps its memory across updates while it acts, and is fitted on whole rollouts as sequences (truncated
backpropagation through time over ``rollout`` steps, each sequence started from the LSTM state the learner had when
it acted, as RecurrentPPO does); ``batch_size`` then counts steps, ``batch_size // rollout`` sequences. The oracle
plans from the whole world, so once the thing it is after leaves the view only a learner with memory can follow.

Why not the ``imitation`` package (HumanCompatibleAI): its release 1.0.1 pins ``gymnasium~=0.29`` and
``stable-baselines3~=2.2.1``, while this suite is written against Gymnasium 1.x's vector API; and its DAgger asks an
expert *policy* for actions on observations, where the oracle here plans from the true world state of each world of
the native batch. The loop below is BabyAI's: a few dozen lines over the SB3 policy's own ``get_distribution``.

Checkpoints hold no pickle: the policy as ``policy.safetensors`` + ``config.json`` (:func:`save_agent`), Adam's
state as ``optimizer.safetensors``, the step count and the mixing generator's state as ``imitation.json``.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from sb3_contrib.common.recurrent.policies import RecurrentActorCriticPolicy
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.policies import ActorCriticPolicy
from stable_baselines3.common.utils import LinearSchedule, update_learning_rate
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvObs

from fusiongym.agents.checkpoint import CheckpointError, load_policy_weights, save_agent

OPTIMIZER_FILE = "optimizer.safetensors"
PROGRESS_FILE = "imitation.json"
GOAL_HEAD_FILE = "goal_head.safetensors"


class Imitation:
    """Behaviour cloning / DAgger of ``expert`` into ``model.policy``, stepping ``env``.

    Args:
        model: an SB3 model whose policy learns (built by ``make_agent``; its env is not stepped).
        env: the vector env the expert can label (its observations are what the policy sees).
        expert: returns the expert's action for every world of ``env`` in its current state.
        mix: probability that a world steps with the learner's sampled action (0: behaviour cloning).
        mix_warmup: fraction of the budget over which the learner share ramps from 0 up to ``mix``.
        rollout: steps of every world per update.
        epochs: passes over the memory per update.
        batch_size: minibatch size in states (``None``: the whole memory at once); a recurrent learner takes
            ``batch_size // rollout`` whole sequences.
        keep: rollouts kept in memory (1: only the newest).
        learning_rate: Adam's step size (at the start, with ``final_learning_rate``).
        final_learning_rate: the step size at the end of the budget, reached linearly from ``learning_rate``
            (``None``: constant). A learner that reads the facts swings between good and bad policies at a
            constant step size; decaying it lets the last updates settle.
        max_grad_norm: gradient clipping (``None``: none).
        seed: seeds the mixing draws.
        goal_cells: returns, for every world of ``env``, a bool row over the view's cells plus a last "none in
            view" column: which cells hold the expert's current target (needed when ``goal_loss`` > 0).
        goal_loss: weight of the auxiliary goal-cell loss (0: none).
    """

    def __init__(self, model: BaseAlgorithm, env: VecEnv, expert: Callable[[], np.ndarray], mix: float = 0.5,
                 mix_warmup: float = 0.0, rollout: int = 8, epochs: int = 1, batch_size: int | None = None,
                 keep: int = 1, learning_rate: float = 5e-4, final_learning_rate: float | None = None,
                 max_grad_norm: float | None = None, seed: int = 0,
                 goal_cells: Callable[[], np.ndarray] | None = None, goal_loss: float = 0.0) -> None:
        check_imitation_kwargs(mix=mix, mix_warmup=mix_warmup, rollout=rollout, epochs=epochs,
                               batch_size=batch_size, keep=keep, learning_rate=learning_rate,
                               final_learning_rate=final_learning_rate, max_grad_norm=max_grad_norm,
                               goal_loss=goal_loss)
        if goal_loss and goal_cells is None:
            raise ValueError("goal_loss > 0 needs goal_cells (the expert's target cells, e.g. a fusiongym vector "
                             "env's oracle_goal_cells); set goal_loss to 0 for plain imitation")
        self.model, self.env, self.expert = model, env, expert
        self.mix, self.mix_warmup, self.rollout, self.epochs = float(mix), float(mix_warmup), rollout, epochs
        self.batch_size, self.keep, self.max_grad_norm = batch_size, keep, max_grad_norm
        self.learning_rate = float(learning_rate)
        self.final_learning_rate = None if final_learning_rate is None else float(final_learning_rate)
        if not isinstance(model.policy, ActorCriticPolicy):
            raise TypeError(f"imitation fits an actor-critic policy (PPO's, RecurrentPPO's), not "
                            f"{type(model.policy).__name__}")
        self.policy = model.policy
        self._obs: dict[str, np.ndarray] | None = None
        self.goal_cells, self.goal_loss = goal_cells, float(goal_loss)
        self.goal_head: torch.nn.Linear | None = None
        if self.goal_loss:
            assert goal_cells is not None
            self._obs = _dict_obs(env.reset())  # the expert labels worlds that exist: reset before asking the width
            self.goal_head = torch.nn.Linear(self.policy.features_dim, goal_cells().shape[1]).to(self.policy.device)
        heads = list(self.goal_head.parameters()) if self.goal_head is not None else []
        self.optimizer = torch.optim.Adam([p for p in self.policy.parameters() if p.requires_grad] + heads,
                                          lr=learning_rate)
        self.rng = np.random.default_rng(seed)
        self.num_timesteps = 0
        self.updates = 0
        self.logger: Any = None
        self.goal_accuracy: float | None = None
        self.ep_success_buffer: deque[bool] = deque(maxlen=100)
        self.ep_return_buffer: deque[float] = deque(maxlen=100)
        self._memory: deque[_Rollout] = deque(maxlen=keep)
        self._returns = np.zeros(env.num_envs)
        #: a recurrent learner's LSTM state (h, c), each (layers, worlds, hidden), and which worlds start an episode
        self.recurrent = isinstance(self.policy, RecurrentActorCriticPolicy)
        self._lstm_state: tuple[np.ndarray, ...] | None = None
        if isinstance(self.policy, RecurrentActorCriticPolicy):
            layers, _, hidden = self.policy.lstm_hidden_state_shape
            self._lstm_state = (np.zeros((layers, env.num_envs, hidden), dtype=np.float32),
                                np.zeros((layers, env.num_envs, hidden), dtype=np.float32))
        self._episode_start = np.ones(env.num_envs, dtype=bool)

    # --- learning ---------------------------------------------------------------------------------------------
    def learner_share(self, total_timesteps: int) -> float:
        """The probability that a world steps with the learner's action, at this point of the budget."""
        if self.mix_warmup <= 0:
            return self.mix
        return self.mix * min(1.0, self.num_timesteps / (self.mix_warmup * total_timesteps))

    def step_size(self, total_timesteps: int) -> float:
        """Adam's step size at this point of the budget (linear from ``learning_rate`` to ``final_learning_rate``)."""
        if self.final_learning_rate is None:
            return self.learning_rate
        schedule = LinearSchedule(self.learning_rate, self.final_learning_rate, end_fraction=1.0)
        return float(schedule(1.0 - min(1.0, self.num_timesteps / total_timesteps)))  # SB3's progress_remaining

    def learn(self, total_timesteps: int, callback: Callable[[Imitation], None] | None = None) -> Imitation:
        """Update until ``num_timesteps`` (env steps of all worlds) reaches ``total_timesteps``; ``callback`` runs
        after every update."""
        if self._obs is None:
            self._obs = _dict_obs(self.env.reset())
        while self.num_timesteps < total_timesteps:
            update_learning_rate(self.optimizer, self.step_size(total_timesteps))
            loss, agreement = self.update(self.learner_share(total_timesteps))
            if self.logger is not None:
                self._log(loss, agreement, total_timesteps)
            if callback is not None:
                callback(self)
        return self

    def update(self, learner_share: float) -> tuple[float, float]:
        """One rollout of every world and one fit to the expert's labels; returns (loss, agreement with the
        expert on the rollout's states)."""
        assert self._obs is not None
        n = self.env.num_envs
        seen: list[dict[str, np.ndarray]] = []
        labels: list[np.ndarray] = []
        goals: list[np.ndarray] = []
        starts: list[np.ndarray] = []
        first_state = self._lstm_state  # replaced, not written into, at every step
        agree = 0
        for _ in range(self.rollout):
            label = np.asarray(self.expert(), dtype=np.int64).reshape(n)
            if self.goal_head is not None:
                assert self.goal_cells is not None
                goals.append(np.asarray(self.goal_cells(), dtype=bool))
            if self.recurrent:
                starts.append(self._episode_start.copy())
                own, self._lstm_state = self.model.predict(self._obs, state=self._lstm_state,
                                                           episode_start=self._episode_start, deterministic=False)
            else:
                own, _ = self.model.predict(self._obs, deterministic=False)
            own = np.asarray(own).reshape(n)
            seen.append({key: value.copy() for key, value in self._obs.items()})
            labels.append(label)
            agree += int((own == label).sum())
            actions = np.where(self.rng.random(n) < learner_share, own, label)
            obs, rewards, dones, infos = self.env.step(actions)
            self._obs = _dict_obs(obs)
            self._episode_start = np.asarray(dones, dtype=bool)
            self._returns += rewards
            for i in np.flatnonzero(dones):
                self.ep_success_buffer.append(bool(infos[i].get("is_success", False)))
                self.ep_return_buffer.append(float(self._returns[i]))
                self._returns[i] = 0.0
            self.num_timesteps += n

        # world-major rows (world 0's steps, then world 1's ...): each world's rollout is one sequence
        def rows(steps: list[np.ndarray]) -> np.ndarray:
            stacked = np.stack(steps)  # (rollout, worlds, ...)
            return (stacked.swapaxes(0, 1) if self.recurrent else stacked).reshape(-1, *stacked.shape[2:])

        self._memory.append(_Rollout({key: rows([s[key] for s in seen]) for key in seen[0]}, rows(labels),
                                     rows(goals) if goals else None, rows(starts) if starts else None, first_state))
        loss = self._fit()
        self.updates += 1
        return loss, agree / (self.rollout * n)

    def _fit(self) -> float:
        data = {key: np.concatenate([m.observations[key] for m in self._memory])
                for key in self._memory[0].observations}
        target = np.concatenate([m.labels for m in self._memory])
        goals = np.concatenate([m.goals for m in self._memory]) if self.goal_head is not None else None
        # the unit of a minibatch: a state, or for a recurrent learner a world's whole rollout (a sequence)
        unit = self.rollout if self.recurrent else 1
        units = len(target) // unit
        per_batch = max(1, (self.batch_size or len(target)) // unit)
        if self.recurrent:
            starts = np.concatenate([m.starts for m in self._memory])
            first = [m.first_state for m in self._memory if m.first_state is not None]  # all, when recurrent
            first_h = np.concatenate([s[0] for s in first], axis=1)
            first_c = np.concatenate([s[1] for s in first], axis=1)
        self.policy.set_training_mode(True)
        losses: list[float] = []
        goal_hits: list[float] = []
        for _ in range(self.epochs):
            goal_hits = []  # the last pass's
            order = self.rng.permutation(units) if per_batch < units else np.arange(units)
            for start in range(0, units, per_batch):
                chosen = order[start:start + per_batch]
                index = (chosen[:, None] * unit + np.arange(unit)).ravel()
                tensors, _ = self.policy.obs_to_tensor({key: value[index] for key, value in data.items()})
                # the policy's get_distribution, with its features kept for the goal head
                features = self.policy.extract_features(tensors, self.policy.pi_features_extractor)
                assert isinstance(features, torch.Tensor)  # one extractor's features (a pair only without one)
                latent = features
                if isinstance(self.policy, RecurrentActorCriticPolicy):
                    device = self.policy.device
                    state = (torch.as_tensor(first_h[:, chosen], device=device),
                             torch.as_tensor(first_c[:, chosen], device=device))
                    latent, _ = self.policy._process_sequence(
                        features, state, torch.as_tensor(starts[index], dtype=torch.float32, device=device),
                        self.policy.lstm_actor)
                latent = self.policy.mlp_extractor.forward_actor(latent)
                distribution = self.policy._get_action_dist_from_latent(latent)
                loss = -distribution.log_prob(torch.as_tensor(target[index], device=self.policy.device)).mean()
                if self.goal_head is not None and goals is not None:
                    logits = self.goal_head(features)
                    mask = torch.as_tensor(goals[index], device=logits.device)
                    # the negative log of the probability given to any of the target cells
                    goal_nll = torch.logsumexp(logits, 1) - torch.logsumexp(logits.masked_fill(~mask, -torch.inf), 1)
                    loss = loss + self.goal_loss * goal_nll.mean()
                    goal_hits.append(mask.gather(1, logits.argmax(1, keepdim=True)).float().mean().item())
                self.optimizer.zero_grad()
                loss.backward()
                if self.max_grad_norm is not None:
                    torch.nn.utils.clip_grad_norm_([p for g in self.optimizer.param_groups for p in g["params"]],
                                                   self.max_grad_norm)
                self.optimizer.step()
                losses.append(loss.item())
        self.policy.set_training_mode(False)
        self.goal_accuracy = float(np.mean(goal_hits)) if goal_hits else None
        return float(np.mean(losses))

    def _log(self, loss: float, agreement: float, total_timesteps: int) -> None:
        self.logger.record("train/imitation_loss", loss)
        self.logger.record("train/expert_agreement", agreement)
        self.logger.record("train/learner_share", self.learner_share(total_timesteps))
        self.logger.record("train/learning_rate", self.optimizer.param_groups[0]["lr"])
        self.logger.record("train/updates", self.updates)
        if self.goal_accuracy is not None:  # the goal head's hits on its training batches (auxiliary task)
            self.logger.record("train/goal_accuracy", self.goal_accuracy)
        if self.ep_success_buffer:
            # episodes of the mixed behaviour (expert and learner), not of the learner alone: see eval/ for that
            self.logger.record("rollout/success_rate", float(np.mean(self.ep_success_buffer)))
            self.logger.record("rollout/ep_rew_mean", float(np.mean(self.ep_return_buffer)))
        self.logger.record("time/total_timesteps", self.num_timesteps)
        self.logger.dump(self.num_timesteps)

    # --- checkpoints (no pickle) ------------------------------------------------------------------------------
    def save(self, folder: str | Path) -> Path:
        """Write the policy, Adam's state and the progress to ``folder`` (safetensors and JSON only)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        save_agent(self.model, folder)
        tensors, groups = _optimizer_to_tensors(self.optimizer)
        save_file(tensors, str(folder / OPTIMIZER_FILE))
        if self.goal_head is not None:
            save_file({k: v.detach().contiguous() for k, v in self.goal_head.state_dict().items()},
                      str(folder / GOAL_HEAD_FILE))
        progress = {"num_timesteps": self.num_timesteps, "updates": self.updates, "param_groups": groups,
                    "rng": self.rng.bit_generator.state}
        (folder / PROGRESS_FILE).write_text(json.dumps(progress) + "\n")
        return folder

    def load(self, folder: str | Path) -> None:
        """Restore what :meth:`save` wrote into this learner (built with the same agent config)."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        folder = Path(folder)
        load_policy_weights(self.policy, folder)
        try:
            progress = json.loads((folder / PROGRESS_FILE).read_text())
            tensors = load_file(str(folder / OPTIMIZER_FILE))
            goal_head = load_file(str(folder / GOAL_HEAD_FILE)) if self.goal_head is not None else None
        except (OSError, json.JSONDecodeError, SafetensorError) as err:
            raise CheckpointError(f"{folder} is not a complete imitation checkpoint ({err}); start a new run") from None
        if self.goal_head is not None and goal_head is not None:
            try:
                self.goal_head.load_state_dict(goal_head)
            except RuntimeError as err:
                raise CheckpointError(f"{folder}'s goal head does not fit this learner ({err}); start a new "
                                      "run") from None
        _optimizer_from_tensors(self.optimizer, tensors, progress["param_groups"])
        self.num_timesteps, self.updates = int(progress["num_timesteps"]), int(progress["updates"])
        self.rng.bit_generator.state = progress["rng"]


def _dict_obs(obs: VecEnvObs) -> dict[str, np.ndarray]:
    """A vector env's observation, which imitation takes as a Dict one (as fusiongym's envs give)."""
    if not isinstance(obs, dict):
        raise TypeError(f"imitation needs Dict observations, got {type(obs).__name__}")
    return obs


class _Rollout(NamedTuple):
    """One update's visited states, in world-major rows for a recurrent learner (each world's rollout a sequence)."""

    observations: dict[str, np.ndarray]
    labels: np.ndarray
    goals: np.ndarray | None
    starts: np.ndarray | None  # recurrent: whether each row starts an episode (the LSTM state is reset there)
    first_state: tuple[np.ndarray, ...] | None  # recurrent: the LSTM state (h, c) each sequence started from


def check_imitation_kwargs(mix: float = 0.5, mix_warmup: float = 0.0, rollout: int = 8, epochs: int = 1,
                           batch_size: int | None = None, keep: int = 1, learning_rate: float = 5e-4,
                           final_learning_rate: float | None = None, max_grad_norm: float | None = None,
                           goal_loss: float = 0.0, recurrent: bool = False, explore: bool = False) -> None:
    """Raise ``ValueError`` naming the fix for an imitation hyperparameter that cannot be used (``recurrent`` and
    ``explore``: the run config's choice of a RecurrentPPO learner and of an oracle that knows only what the agent
    has seen, see ``fusiongym.training``)."""
    if not isinstance(recurrent, bool):
        raise ValueError(f"recurrent must be true (an LSTM learner, fitted on sequences) or false, got {recurrent!r}")
    if not isinstance(explore, bool):
        raise ValueError(f"explore must be true (the oracle knows only what the agent has seen and explores for the "
                         f"rest, as BabyAI's bot) or false (it plans from the whole world), got {explore!r}")
    if not isinstance(mix, (int, float)) or not 0 <= mix <= 1:
        raise ValueError(f"mix must be a probability in [0, 1] (the learner's share of actions), got {mix!r}")
    if not isinstance(mix_warmup, (int, float)) or not 0 <= mix_warmup <= 1:
        raise ValueError(f"mix_warmup must be a fraction of the budget in [0, 1], got {mix_warmup!r}")
    for name, value in (("rollout", rollout), ("epochs", epochs), ("keep", keep)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if batch_size is not None and (not isinstance(batch_size, int) or batch_size < 1):
        raise ValueError(f"batch_size must be a positive int (or null: the whole memory), got {batch_size!r}")
    if not isinstance(learning_rate, (int, float)) or not learning_rate > 0:
        raise ValueError(f"learning_rate must be a positive number, got {learning_rate!r}")
    if final_learning_rate is not None and (not isinstance(final_learning_rate, (int, float))
                                            or isinstance(final_learning_rate, bool) or not final_learning_rate >= 0):
        raise ValueError(f"final_learning_rate must be a number >= 0 (the step size at the end of the budget) or "
                         f"null (a constant learning_rate), got {final_learning_rate!r}")
    if not isinstance(goal_loss, (int, float)) or isinstance(goal_loss, bool) or not goal_loss >= 0:
        raise ValueError(f"goal_loss must be a weight >= 0 (0: no auxiliary goal task), got {goal_loss!r}")
    if max_grad_norm is not None and (not isinstance(max_grad_norm, (int, float)) or not max_grad_norm > 0):
        raise ValueError(f"max_grad_norm must be a positive number (or null: no clipping), got {max_grad_norm!r}")


def _optimizer_to_tensors(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Adam's state as flat named tensors (``"<param index>.<name>"``) and its param groups as JSON-ready data."""
    state = optimizer.state_dict()
    tensors = {f"{index}.{name}": torch.as_tensor(value).detach().clone().contiguous()
               for index, entry in state["state"].items() for name, value in entry.items()}
    groups: list[dict[str, Any]] = [{k: v for k, v in group.items()
                                     if isinstance(v, (int, float, bool, list, type(None)))}
                                    for group in state["param_groups"]]
    for group in groups:
        group["betas"] = list(group.get("betas", (0.9, 0.999)))
    return tensors, groups


def _optimizer_from_tensors(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                            groups: list[dict]) -> None:
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        index, _, name = key.partition(".")
        state.setdefault(int(index), {})[name] = value
    current = optimizer.state_dict()
    if len(groups) != len(current["param_groups"]):
        raise CheckpointError("the saved optimizer does not fit this policy (different parameter groups)")
    merged = [{**now, **{k: (tuple(v) if k == "betas" else v) for k, v in saved.items()}}
              for now, saved in zip(current["param_groups"], groups, strict=True)]
    try:
        optimizer.load_state_dict({"state": state, "param_groups": merged})
    except (ValueError, KeyError, RuntimeError) as err:
        raise CheckpointError(f"the saved optimizer does not fit this policy ({err}); start a new run") from None
