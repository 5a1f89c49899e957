"""fusiongym.agents (being built; see the package docstrings as they land)."""
