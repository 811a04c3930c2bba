"""Code rules of docs/conventions.md that ruff does not check.

No function in ``src/`` is longer than 80 lines. Every public ``run_*`` function and every public function of the lower layers (io,
processing, grids, synthetic, models, training) documents its Parameters (when it takes
any) and its Returns (or Yields).
"""

import ast
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "magnetar"
LOWER = ("io", "processing", "grids", "synthetic", "models", "training")


def _lacking():
    out = set()
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        lower = rel.split("/")[0] in LOWER
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            if not (lower or node.name.startswith("run_")):
                continue
            doc = ast.get_docstring(node) or ""
            has_args = bool(node.args.args or node.args.kwonlyargs)
            if (has_args and "Parameters" not in doc) or not (
                    "Returns" in doc or "Yields" in doc):
                out.add(f"{rel} {node.name}")
    return out


def test_public_functions_have_numpydoc_sections():
    assert not _lacking(), f"functions without Parameters/Returns: {sorted(_lacking())}"


def test_no_function_in_src_is_longer_than_80_lines():
    long = []
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 80:
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({n})")
    assert not long, long
