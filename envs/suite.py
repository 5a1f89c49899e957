"""The single-agent levels as Gymnasium envs. Each class docstring is the env's spec."""

from __future__ import annotations

from fusiongym.envs.core import FusionEnv, FusionVectorEnv
from fusiongym.envs.levels import AvoidLevel, BringLevel, DefeatLevel, FetchLevel, GoToLevel, UnlockLevel

_COMMON_OBSERVATION = """
    ## Observation
    ``Dict`` of fixed-size arrays: ``image`` ``Box(0, 255, (V*ts, V*ts, 3), uint8)``, the egocentric RGB view
    (``view_size`` V = 7 tiles of ``tile_size`` ts = 8 px: 56×56×3), agent at the bottom centre facing up,
    walls and closed doors occluding what lies behind them unless ``see_through_walls=True``; with
    ``show_carried=True`` (the default of every id whose agent carries objects across steps) the agent's own cell
    shows the object it carries, as in MiniGrid;
    ``mission`` ``Box(0, vocab-1, (16,), int64)``, the instruction as suite-vocabulary ids, 0 = padding;
    ``facts`` ``Box(0, vocab-1, (32, 3), int64)``, (subject, relation, object) id triples in a shuffled order,
    all-zero rows padding. ``info["mission"]`` is the instruction text and ``info["facts"]`` the facts as
    sentences; ``info["success"]`` (after a step) whether the episode was won.

    ## Actions
    ``Discrete(7)``, MiniGrid's: 0 left, 1 right, 2 forward, 3 pickup, 4 drop, 5 toggle (open / close a door,
    unlock a locked door with its key, use the carried object on the object in front), 6 done (no-op).
    Anything else raises ``InvalidActionError``.

    ## Rewards
    ``1 - 0.9 * steps / max_steps`` on success, 0 otherwise.
"""

_KNOWLEDGE_CONTROLS = """
    ## Knowledge controls
    ``distractor_facts=k`` adds k true but irrelevant facts; ``drop_facts=k`` hides k relevant facts;
    ``corrupt_facts=k`` swaps the objects of k relevant facts with others of the same relation (both become
    false); ``contradict_facts=k`` adds, for k relevant facts, one with the same subject and relation but another
    object. The dynamics always follow the true facts; the oracle plans from what is shown, so these controls
    lower its success (``benchmarks/knowledge_gap.py`` measures by how much). ``shuffle_appearance=True`` draws
    every kind with a fresh look each episode, stated only by its ``has_shape`` / ``has_colour`` facts.
"""

_RULE_SPLITS = """
    ## Splits
    ``split="train"``: training kinds only, and only rule pairs not held out. ``split="test"``: the named target
    is a held-out kind, every rule pair is a held-out pair (all pairs with a held-out kind, plus a fixed quarter of
    the pairs of training kinds, ``fusiongym.envs.levels.rules.held_out_rule``), and the phrasings are the
    held-out ones. Other objects are held-out kinds while the ontology has enough (two per category), then
    training kinds. A fact-blind agent is at chance on the test split.
"""


_CARRIED_VIEW_HISTORY = """    ## Version history
    v1: the view shows the carried object in the agent's cell (``show_carried=True``). Under v0 nothing in the
    observation said what the agent carried, so a policy without memory could not tell whether to pick up, drop
    or use it: the DAgger learner on Defeat-v0 agreed with the oracle on 0.17 of its toggles and 0.37 of its
    pickups, even in states the oracle led it to.
    v0 (deprecated, kept registered so earlier results can be reproduced): initial release.
"""


class GoToEnv(FusionEnv):  # noqa: D101  (its docstring is assembled in __doc__)
    __doc__ = (
        """Go to the <colour> <shape>: the control level, vision and language without knowledge.

    ## Description
    A room (or a grid of rooms joined by doors) holds plain objects, each a shape (12) in a colour (6). The
    agent must face the object the instruction describes by its colour and shape.

    ## Instruction
    "go to the red ball", "walk to the red ball", "find the red ball", "move next to the red ball"; the test
    split uses held-out phrasings ("make your way to the red ball", "head over to the red ball").
"""
        + _COMMON_OBSERVATION
        + """
    ## Termination
    ``terminated`` when the agent faces an object matching the description (success). With
    ``wrong_object_fails=True`` (v1) the episode also ends, unsuccessfully, when the agent faces or toggles any
    other object, or takes the ``done`` action, so only an agent that reads the instruction wins more than one
    episode in ``num_distractors + 1``; with ``wrong_object_fails=False`` (v0, as in BabyAI's GoTo levels) facing
    another object ends nothing and an agent that ignores the instruction wins most episodes by visiting the objects
    in turn. ``truncated`` after ``max_steps`` (default 2 × room_size² per room). Compare agents with their
    instruction zeroed (``fusiongym eval RUN --ablate mission``) to see what reading it is worth.

    ## Knowledge
    None is needed (``needs_knowledge = False``): ``obs["facts"]`` is padding, or ``distractor_facts`` true
    ontology facts irrelevant to the task.

    ## Splits
    ``split="train"``: targets and distractors use the 60 training colour × shape compositions.
    ``split="test"``: the target is one of the 12 held-out compositions (``(shape + colour) % 6 == 0``).
    Phrasings are split as above.

    ## Arguments
    ``room_size=8`` (walls included), ``num_rows=1``, ``num_cols=1``, ``num_distractors=3``,
    ``wrong_object_fails=False``, ``distractor_facts=0``, ``max_steps=None``, ``split="train"``,
    ``shuffle_appearance`` (refused: plain shapes have no kind), ``drop_facts=0``, ``corrupt_facts=0``,
    ``contradict_facts=0``, ``tile_size=8``, ``view_size=7``,
    ``see_through_walls=False``, ``show_carried=False``, ``max_mission_len=16``, ``max_facts=32``,
    ``render_mode=None|"rgb_array"``, ``render_facts=True``, ``render_tile_size=16``.

    ## Registered configurations
    ``fusiongym/GoTo-v1``: one 8×8 room, 3 distractors, ``wrong_object_fails=True``. ``fusiongym/GoTo-Large-v1``:
    3×3 rooms, 12 distractors, ``wrong_object_fails=True``. Deprecated: ``fusiongym/GoTo-v0`` and
    ``fusiongym/GoTo-Large-v0`` (the same with ``wrong_object_fails=False``).

    ## Version history
    v1: facing or toggling a wrong object, or ``done``, fails the episode: under v0 an agent with its instruction
    zeroed won 0.85 of test episodes (against 0.90 reading it), so v0 did not test language. A world never starts
    with the agent facing an object.
    v0 (deprecated, kept registered so earlier results can be reproduced): initial release.
    """
    )
    level_class = GoToLevel


class FetchEnv(FusionEnv):  # noqa: D101  (its docstring is assembled in __doc__)
    __doc__ = (
        """Pick up a <category>: which objects belong to the category is stated only by the facts.

    ## Description
    Objects are entity kinds of the ontology (``apple``, ``hammer``, ``ruby`` …), each drawn with its
    appearance (shape × colour). One object's kind belongs to the asked category; the others belong to other
    categories. Picking up the right one wins, picking up any other loses.

    ## Instruction
    "pick up a fruit", "fetch a fruit", "grab a fruit", "get a fruit"; test split: "collect one fruit",
    "take hold of a fruit".
"""
        + _COMMON_OBSERVATION
        + """
    ## Termination
    ``terminated`` on picking up any object (success if its kind is of the category); ``truncated`` after
    ``max_steps``.

    ## Knowledge
    ``needs_knowledge = True``. The facts state, for every object in the world, ``<kind> is_a <category>``,
    ``<kind> has_shape <shape>`` and ``<kind> has_colour <colour>``, plus ``distractor_facts`` true facts about
    absent kinds. The dynamics read the same facts.

    ## Splits
    ``split="train"`` uses the 44 training kinds, ``split="test"`` only the 22 held-out kinds (2 per
    category), whose category and appearance nothing but the facts reveals; phrasings are split too. A
    fact-blind agent can memorise training kinds by their look, so the test split is where knowledge is
    necessary: there the fact-blind oracle is at chance (1 in ``num_distractors + 1``).

    ## Arguments
    Those of every level, with ``num_distractors=2`` (at most 7).

    ## Registered configurations
    ``fusiongym/Fetch-v0``: one 8×8 room, 2 distractors. ``fusiongym/Fetch-Large-v0``: 3×3 rooms, 5 distractors.

    ## Version history
    v0: initial release.
    """
    )
    level_class = FetchLevel


class DefeatEnv(FusionEnv):  # noqa: D101  (its docstring is assembled in __doc__)
    __doc__ = (
        """Defeat the <monster>: which weapon each monster is weak to is redrawn every episode.

    ## Description
    Monsters (not pickable) and weapons (pickable) are ontology kinds drawn with their looks. Pick up the weapon
    the named monster is weak to and use it (toggle) on the monster. Using any other weapon on it, or any weapon
    on another monster, loses the episode; toggling with bare hands does nothing.

    ## Instruction
    "defeat the goblin", "slay the goblin", "vanquish the goblin"; test split: "get rid of the goblin",
    "beat the goblin".
"""
        + _COMMON_OBSERVATION
        + """
    ## Termination
    ``terminated`` on a weapon used on a monster (success only for the right pair); ``truncated`` at ``max_steps``.

    ## Knowledge
    ``needs_knowledge = True``. Facts: ``<monster> weak_to <weapon>`` for every monster present (a random
    injection, redrawn each episode), and each object's ``is_a``, ``has_shape``, ``has_colour``.
"""
        + _RULE_SPLITS
        + _KNOWLEDGE_CONTROLS
        + """
    ## Arguments
    Those of every level, plus ``num_distractors=1`` (other monsters) and ``num_weapons=3`` (up to 4).

    ## Registered configurations
    ``fusiongym/Defeat-v1``: one 8×8 room, 2 monsters, 3 weapons. ``fusiongym/Defeat-Large-v1``: 3×3 rooms,
    3 monsters, 4 weapons. Deprecated: ``Defeat-v0`` and ``Defeat-Large-v0`` (the same with ``show_carried=False``).

"""
        + _CARRIED_VIEW_HISTORY
    )
    level_class = DefeatLevel


class UnlockEnv(FusionEnv):  # noqa: D101  (its docstring is assembled in __doc__)
    __doc__ = (
        """Reach the <gem> behind a locked door: which key opens which door, and behind which door the gem lies,
    are facts redrawn every episode (not colour matching).

    ## Description
    A centre room holds the agent and one key per door; side rooms, each behind a locked door of its own colour,
    hold the target gem and distractor gems. Carry the right key to the door and toggle: it opens. Toggling a
    locked door with a wrong key jams it and loses the episode. Facing the target gem wins.

    ## Instruction
    "get to the ruby behind the locked door", "unlock the way to the ruby", "open the door and reach the ruby";
    test split: "find the locked ruby and go to it", "go to the ruby behind the door".
"""
        + _COMMON_OBSERVATION
        + """
    ## Termination
    ``terminated`` on facing the target (success) or using a wrong key (failure); ``truncated`` at ``max_steps``.

    ## Knowledge
    ``needs_knowledge = True``. Facts: ``<key> opens <colour>_door`` for every key (a random bijection),
    ``<gem> lies_behind <colour>_door`` for every gem, and each object's ``is_a``, ``has_shape``, ``has_colour``. Two
    hops: the gem's door, then that door's key.
"""
        + _RULE_SPLITS
        + _KNOWLEDGE_CONTROLS
        + """
    ## Arguments
    Those of every level (``num_rows`` and ``num_cols`` fixed at 3; ``room_size=6``), plus ``num_doors=3`` (2 to 4)
    and ``num_distractors=0`` (gems in the other side rooms).

    ## Registered configurations
    ``fusiongym/Unlock-v1``: rooms of 6, 3 doors. ``fusiongym/Unlock-Large-v1``: rooms of 8, 4 doors, 3 distractor gems.
    Deprecated: ``Unlock-v0`` and ``Unlock-Large-v0`` (the same with ``show_carried=False``).

"""
        + _CARRIED_VIEW_HISTORY
    )
    level_class = UnlockLevel


class BringEnv(FusionEnv):  # noqa: D101  (its docstring is assembled in __doc__)
    __doc__ = (
        """Bring the cure for <ailment> to the <container>: what cures what is redrawn every episode.

    ## Description
    Medicines (pickable) and containers (not pickable) are ontology kinds drawn with their looks. Carry the
    medicine that cures the named ailment to the named container and use it (toggle). Putting anything else in a
    container, or anything in the wrong container, loses.

    ## Instruction
    "bring the cure for fever to the chest", "take something that cures fever to the chest", "deliver the fever
    cure to the chest"; test split: "put the remedy for fever in the chest".
"""
        + _COMMON_OBSERVATION
        + """
    ## Termination
    ``terminated`` on using a carried object on a container; ``truncated`` at ``max_steps``.

    ## Knowledge
    ``needs_knowledge = True``. Facts: ``<medicine> cures <ailment>`` for every medicine (a random injection into
    the six ailments), and each object's ``is_a``, ``has_shape``, ``has_colour`` — the container is named, so on the
    test split or with ``shuffle_appearance`` only its look facts tell which one it is (two hops).
"""
        + _RULE_SPLITS
        + _KNOWLEDGE_CONTROLS
        + """
    ## Arguments
    Those of every level, plus ``num_medicines=3`` (2 to 4) and ``num_distractors=1`` (other containers, up to 3).

    ## Registered configurations
    ``fusiongym/Bring-v1``: one 8×8 room, 3 medicines, 2 containers. ``fusiongym/Bring-Large-v1``: 3×3 rooms,
    4 medicines, 3 containers. Deprecated: ``Bring-v0`` and ``Bring-Large-v0`` (the same with ``show_carried=False``).

"""
        + _CARRIED_VIEW_HISTORY
    )
    level_class = BringLevel


class AvoidEnv(FusionEnv):  # noqa: D101  (its docstring is assembled in __doc__)
    __doc__ = (
        """Reach the <colour> <shape> without touching anything dangerous: which creatures are dangerous is
    redrawn every episode.

    ## Description
    A wall splits the room; its gaps are each filled by a creature (an animal or monster kind drawn with its look)
    that the agent can step onto. Stepping onto a dangerous one loses the episode; a harmless one can be crossed.
    The target shape waits beyond the wall.

    ## Instruction
    "reach the red ball without touching anything dangerous", "go to the red ball and avoid danger", "get to the
    red ball safely"; test split: "make your way to the red ball avoiding danger".
"""
        + _COMMON_OBSERVATION
        + """
    ## Termination
    ``terminated`` on facing the target (success) or stepping onto a dangerous creature (failure);
    ``truncated`` at ``max_steps``.

    ## Knowledge
    ``needs_knowledge = True``. Facts: ``<creature> is dangerous`` or ``<creature> is harmless`` for every
    creature (``num_harmless`` of them harmless, redrawn each episode), and each creature's ``is_a``,
    ``has_shape``, ``has_colour``.

    ## Splits
    ``split="test"``: held-out creature kinds (while the ontology has enough), held-out target compositions (as in
    GoTo) and held-out phrasings. Which creatures are dangerous is random in both splits.
"""
        + _KNOWLEDGE_CONTROLS
        + """
    ## Arguments
    Those of every level (one room, ``room_size=9``), plus ``num_crossings=3`` (gaps in the wall),
    ``num_harmless=1`` and ``num_distractors=1`` (other shapes beyond the wall).

    ## Registered configurations
    ``fusiongym/Avoid-v0``: room of 9, 3 crossings, 1 harmless. ``fusiongym/Avoid-Large-v0``: room of 13,
    5 crossings, 2 harmless, 3 distractors.

    ## Version history
    v0: initial release.
    """
    )
    level_class = AvoidLevel


def _vector_twin(env_class: type[FusionEnv]) -> type[FusionVectorEnv]:
    """The native batch of ``env_class``, as a module-level class (so it pickles and registers by name)."""
    name = env_class.__name__.removesuffix("Env") + "VectorEnv"
    doc = f"Native batch of ``{env_class.__name__}`` (see its spec)."
    return type(name, (FusionVectorEnv,), {"env_class": env_class, "__doc__": doc, "__module__": __name__})


GoToVectorEnv = _vector_twin(GoToEnv)
FetchVectorEnv = _vector_twin(FetchEnv)
DefeatVectorEnv = _vector_twin(DefeatEnv)
UnlockVectorEnv = _vector_twin(UnlockEnv)
BringVectorEnv = _vector_twin(BringEnv)
AvoidVectorEnv = _vector_twin(AvoidEnv)
