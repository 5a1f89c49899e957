"""Type-check the ``fusiongym`` package with mypy, module names as installed (``fusiongym.envs.core``, …).

The package is laid out flat (``envs/`` is ``fusiongym.envs``, …, through setuptools' ``package-dir``), and an
editable install maps those folders with an import hook that mypy cannot follow: ``mypy -p fusiongym`` finds no
package and ``mypy envs`` would call the modules ``envs.*``. This script hands mypy every module of the packages
``pyproject.toml`` lists, each under its installed name, with the ``[tool.mypy]`` settings; other arguments go to
mypy as on its command line (e.g. ``--no-incremental``).

    python scripts/typecheck.py
"""

from __future__ import annotations

import sys
from pathlib import Path

from mypy import build
from mypy.errors import CompileError
from mypy.fscache import FileSystemCache
from mypy.main import process_options
from mypy.modulefinder import BuildSource

if sys.version_info >= (3, 11):
    import tomllib
else:  # mypy depends on tomli before Python 3.11
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]


def package_sources(root: Path = ROOT) -> list[BuildSource]:
    """Every module of the packages ``[tool.setuptools]`` lists, at its path and under its installed name."""
    setuptools = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    package_dir: dict[str, str] = setuptools["package-dir"]

    def folder(package: str) -> Path:  # setuptools' rule: the nearest mapped ancestor, then the remaining names
        parts = package.split(".")
        for i in range(len(parts), 0, -1):
            if ".".join(parts[:i]) in package_dir:
                return root / package_dir[".".join(parts[:i])] / Path(*parts[i:])
        return root / Path(*parts)

    sources = []
    for package in setuptools["packages"]:
        for path in sorted(folder(package).glob("*.py")):
            module = package if path.stem == "__init__" else f"{package}.{path.stem}"
            sources.append(BuildSource(str(path.relative_to(root)), module))
    return sources


def main(argv: list[str] | None = None) -> int:
    """Run mypy; return its exit status (0: no errors, 1: type errors, 2: mypy could not run)."""
    fscache = FileSystemCache()
    _, options = process_options(["--config-file", str(ROOT / "pyproject.toml"), *(argv or [])],
                                 require_targets=False, fscache=fscache)
    sources = package_sources()
    try:
        result = build.build(sources, options, fscache=fscache, stdout=sys.stdout, stderr=sys.stderr)
    except CompileError as error:
        print("\n".join(error.messages), file=sys.stderr)
        return 2
    for line in result.errors:
        print(line)
    files = {line.split(":", 1)[0] for line in result.errors if ": error:" in line}
    errors = sum(": error:" in line for line in result.errors)
    if errors:
        print(f"Found {errors} error{'s' * (errors != 1)} in {len(files)} file{'s' * (len(files) != 1)} "
              f"(checked {len(sources)} source files)")
        return 1
    print(f"Success: no issues found in {len(sources)} source files")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
