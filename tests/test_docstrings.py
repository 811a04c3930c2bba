"""Public functions carry numpydoc sections.

Every public ``run_*`` function and every public function of the lower layers (io,
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
