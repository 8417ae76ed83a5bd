"""The package's layers: each imports only the layers below it."""

import ast
import pathlib
import types

import pytest

import coprune_jax as cj

PACKAGE = pathlib.Path(cj.__file__).parent
# A layer and the subpackages of coprune_jax it may import besides itself;
# none may import the package face (`import coprune_jax`).
BELOW = {
    "core": set(),
    "pruners": {"core"},
    "models": set(),
    "baselines": {"core"},
    "structured": {"core"},
    "compression": {"core"},
    "data": {"extras"},
    "train": {"core", "pruners", "models", "baselines", "structured",
              "compression", "data", "sharding", "extras"},
}


def imported_subpackages(path: pathlib.Path) -> set[str]:
  found = set()
  for node in ast.walk(ast.parse(path.read_text())):
    names = []
    if isinstance(node, ast.Import):
      names = [alias.name for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module == "coprune_jax":
      names = [f"coprune_jax.{alias.name}" for alias in node.names]
    elif isinstance(node, ast.ImportFrom) and node.module:
      names = [node.module]
    for name in names:
      parts = name.split(".")
      if parts[0] == "coprune_jax":
        # `import coprune_jax` is the package face: above every layer.
        found.add(parts[1] if len(parts) > 1 else "coprune_jax")
  return found


@pytest.mark.parametrize("layer", sorted(BELOW))
def test_a_layer_imports_nothing_above_it(layer):
  for path in sorted((PACKAGE / layer).rglob("*.py")):
    above = imported_subpackages(path) - BELOW[layer] - {layer}
    assert not above, f"{path.relative_to(PACKAGE)} imports {sorted(above)}"


def test_the_face_names_what_a_user_composes_and_submodules_the_rest():
  names = [n for n in dir(cj) if not n.startswith("_")]
  functions = [n for n in names
               if not isinstance(getattr(cj, n), types.ModuleType)]
  assert len(functions) <= 25, sorted(functions)
  for module in ("pruners", "masks", "plateau", "compression", "topk"):
    assert isinstance(getattr(cj, module), types.ModuleType)
