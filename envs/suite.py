"""The single-agent levels as Gymnasium envs. Each class docstring is the env's spec."""

from __future__ import annotations

from fusiongym.envs.core import FusionEnv, FusionVectorEnv
from fusiongym.envs.levels import FetchLevel, GoToLevel

_COMMON_OBSERVATION = """
    ## Observation
    ``Dict`` of fixed-size arrays: ``image`` ``Box(0, 255, (V*ts, V*ts, 3), uint8)``, the egocentric RGB view
    (``view_size`` V = 7 tiles of ``tile_size`` ts = 8 px: 56×56×3), agent at the bottom centre facing up,
    walls and closed doors occluding what lies behind them unless ``see_through_walls=True``;
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


class GoToEnv(FusionEnv):
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
    ``terminated`` when the agent faces an object matching the description (success);
    ``truncated`` after ``max_steps`` (default 2 × room_size² per room).

    ## Knowledge
    None is needed (``needs_knowledge = False``): ``obs["facts"]`` is padding, or ``distractor_facts`` true
    ontology facts irrelevant to the task.

    ## Splits
    ``split="train"``: targets and distractors use the 60 training colour × shape compositions.
    ``split="test"``: the target is one of the 12 held-out compositions (``(shape + colour) % 6 == 0``).
    Phrasings are split as above.

    ## Arguments
    ``room_size=8`` (walls included), ``num_rows=1``, ``num_cols=1``, ``num_distractors=3``,
    ``distractor_facts=0``, ``max_steps=None``, ``split="train"``, ``tile_size=8``, ``view_size=7``,
    ``see_through_walls=False``, ``max_mission_len=16``, ``max_facts=32``, ``render_mode=None|"rgb_array"``,
    ``render_facts=True``, ``render_tile_size=16``.

    ## Registered configurations
    ``fusiongym/GoTo-v0``: one 8×8 room, 3 distractors. ``fusiongym/GoTo-Large-v0``: 3×3 rooms, 12 distractors.

    ## Version history
    v0: initial release.
    """
    )
    level_class = GoToLevel


class FetchEnv(FusionEnv):
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
    As ``GoToEnv`` with ``num_distractors=2`` by default (at most 7).

    ## Registered configurations
    ``fusiongym/Fetch-v0``: one 8×8 room, 2 distractors. ``fusiongym/Fetch-Large-v0``: 3×3 rooms, 5 distractors.

    ## Version history
    v0: initial release.
    """
    )
    level_class = FetchLevel


class GoToVectorEnv(FusionVectorEnv):
    """Native batch of ``GoToEnv`` (see its spec)."""

    env_class = GoToEnv


class FetchVectorEnv(FusionVectorEnv):
    """Native batch of ``FetchEnv`` (see its spec)."""

    env_class = FetchEnv
