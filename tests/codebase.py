"""The project's Python files for the tests that scan the code base (audit actions, layers, tenancy, deployment).

The files are found in one walk that never enters the environment or local state, and read afresh on every call; a
text is parsed once per test process, however many scans read it (the whole tree parsed again by each scan was most
of their cost). The trees are shared: a scan reads them and never changes them.
"""

import ast
import functools
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Never the project's code, and never entered: the virtualenv alone holds tens of thousands of files.
NOT_OURS = {".venv", "var", "node_modules", "__pycache__", ".git"}


def python_files(root: Path = ROOT) -> list[Path]:
    """Every .py file under root (the repository or a folder of it), sorted, outside NOT_OURS."""
    found = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if name not in NOT_OURS]
        found += [Path(directory) / name for name in files if name.endswith(".py")]
    return sorted(found)


def source(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@functools.cache
def parsed(text: str, filename: str = "<unknown>") -> ast.Module:
    """The syntax tree of a text, parsed once per process: a file changed since is a new text, parsed anew."""
    return ast.parse(text, filename=filename)


def tree(path: Path) -> ast.Module:
    return parsed(source(path), str(path))
