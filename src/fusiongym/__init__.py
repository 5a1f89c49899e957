"""fusiongym: environments where an agent fuses an instruction, RGB pixels and knowledge-graph facts to act.

Importing ``fusiongym`` registers every environment id with Gymnasium (and, where PettingZoo is installed,
the multi-agent ids). The subpackages live in the repository's top-level folders and are mapped into this
namespace by ``pyproject.toml``: ``fusiongym.envs`` (``envs/``), ``fusiongym.fusion`` (``fusion/``),
``fusiongym.agents`` (``agents/``) and ``fusiongym.training`` (``training/``). Only ``envs`` is imported
here, so ``import fusiongym`` stays fast and never imports torch.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from fusiongym import envs  # noqa: F401  (registers the environment ids)

try:
    __version__ = version("fusiongym")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["envs", "__version__"]
