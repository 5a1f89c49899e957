"""The one-way imports of docs/design.md: ``training → agents → fusion → envs``, and ``envs`` never imports torch.

Read from the source, every import statement (function-level ones too), so a lazy import breaks the rule as surely
as a module-level one; ``test_env_registry`` checks at run time that making an env loads no torch."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("envs", "fusion", "agents", "training")  # each may import the ones before it, never those after
# what pulls in torch: envs must import fast and run without it
TORCH_STACK = ("torch", "transformers", "peft", "safetensors", "stable_baselines3", "sb3_contrib")


def _imports(source: str, package: str) -> list[tuple[int, str]]:
    """``(line, absolute module)`` of every import in ``source``, a module of ``package`` (relative ones resolved)."""
    parts = package.split(".")
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(parts[: len(parts) - node.level + 1]) if node.level else ""
            found.append((node.lineno, ".".join(part for part in (base, node.module) if part)))
    return found


def _breaks(module: str, banned: list[str]) -> bool:
    return any(module == b or module.startswith(b + ".") for b in banned)


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layer_imports_only_the_layers_below_it(layer: str) -> None:
    # the layers above, and any folder by its own name (code imports fusiongym.envs, never envs)
    banned = [f"fusiongym.{above}" for above in LAYERS[LAYERS.index(layer) + 1 :]] + list(LAYERS)
    if layer == "envs":
        banned += TORCH_STACK
    files = sorted((ROOT / layer).rglob("*.py"))
    assert files
    broken = []
    for path in files:
        package = ".".join(["fusiongym", *path.relative_to(ROOT).parent.parts])
        broken += [f"{path.relative_to(ROOT)}:{line}: {module}" for line, module in _imports(path.read_text(), package)
                   if _breaks(module, banned)]
    assert not broken, f"{layer}/ may not import {', '.join(banned)}:\n" + "\n".join(broken)


def test_the_check_sees_lazy_and_relative_imports() -> None:
    source = "import numpy\ndef f():\n    import torch.nn\n    from ...agents import factory\n    from . import rules\n"
    found = _imports(source, "fusiongym.envs.levels")
    assert found == [(1, "numpy"), (3, "torch.nn"), (4, "fusiongym.agents"), (5, "fusiongym.envs.levels")]
    assert [m for _, m in found if _breaks(m, ["fusiongym.agents", *TORCH_STACK])] == ["torch.nn", "fusiongym.agents"]
