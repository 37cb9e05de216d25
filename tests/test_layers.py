"""The layer rule of docs/development.md, checked from the code's own imports."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "vae"


def documented_layers() -> list[list[str]]:
    """The modules and subpackages of each layer, bottom first, as docs/development.md lists them."""
    text = (ROOT / "docs" / "development.md").read_text(encoding="utf-8")
    section = text.split("## The layers", 1)[1].split("\n## ", 1)[0]
    layers = []
    for item in re.findall(r"^\d+\. (.+?):", section, flags=re.M):
        layers.append(re.findall(r"`(vae[\w.]*)`", item))
    return layers


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(module: str, layers: list[list[str]]) -> int:
    """The layer of `module`: that of the longest documented name it is or lies within."""
    best, best_length = None, -1
    for index, names in enumerate(layers):
        for name in names:
            if (module == name or module.startswith(name + ".")) and len(name) > best_length:
                best, best_length = index, len(name)
    assert best is not None, f"{module} is in no layer of docs/development.md"
    return best


def imports_of(path: Path) -> list[tuple[str, int, bool]]:
    """Each `vae` module imported by `path`: (name, line, whether the import sits inside a function)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue  # annotations only; nothing is imported when the code runs
            if isinstance(child, ast.ImportFrom) and child.level == 0 and (child.module or "").startswith("vae"):
                for alias in child.names:
                    candidate = f"{child.module}.{alias.name}"
                    is_module = (PACKAGE.parent / Path(*candidate.split("."))).with_suffix(".py").exists() or (
                        PACKAGE.parent / Path(*candidate.split("."))
                    ).is_dir()
                    found.append((candidate if is_module else child.module, child.lineno, inside))
            elif isinstance(child, ast.Import):
                found.extend(
                    (alias.name, child.lineno, inside) for alias in child.names if alias.name.startswith("vae")
                )
            visit(child, inside)

    visit(tree, False)
    return found


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


# What makes a module slow to load: `import vae` and `--help` must not load these.
HEAVY_LIBRARIES = ("tensorflow", "keras")


def top_level_imports(path: Path) -> set[str]:
    """Every module that `path` imports when it is loaded: the imports outside functions, TYPE_CHECKING left out."""
    found = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.add(child.module)
                found.update(f"{child.module}.{alias.name}" for alias in child.names)
            elif isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def modules_loading_tensorflow() -> set[str]:
    """The `vae` modules that load TensorFlow or Keras when imported, themselves or through the `vae` modules they
    import at their top, read from the code without importing it."""
    known = modules()
    imports = {module: top_level_imports(path) for module, path in known.items()}
    heavy: set[str] = set()
    changed = True
    while changed:
        changed = False
        for module, imported in imports.items():
            if module in heavy:
                continue
            if any(name.split(".")[0] in HEAVY_LIBRARIES or name in heavy for name in imported):
                heavy.add(module)
                changed = True
    return heavy


def test_the_documented_layers_cover_every_module():
    layers = documented_layers()
    assert len(layers) >= 5, layers
    for module in modules():
        layer_of(module, layers)


def test_no_module_imports_from_a_layer_above_it():
    layers = documented_layers()
    upward = []
    for module, path in modules().items():
        own = layer_of(module, layers)
        for imported, line, _ in imports_of(path):
            if imported == "vae":
                continue  # `from vae import __version__`: the package root, layer 1
            if layer_of(imported, layers) > own:
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {imported}")
    assert not upward, "imports from a higher layer:\n" + "\n".join(upward)


def test_the_imports_form_no_cycle():
    graph = {module: set() for module in modules()}
    for module, path in modules().items():
        for imported, _, _ in imports_of(path):
            if imported in graph and imported != module and not module.startswith(imported + "."):
                graph[module].add(imported)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_the_rule_catches_an_upward_import(tmp_path):
    """The checker itself: a data module that imports the run layer is reported."""
    layers = documented_layers()
    assert layer_of("vae.data.folders", layers) < layer_of("vae.run.records", layers)
    assert layer_of("vae.views.report", layers) > layer_of("vae.model.latent", layers)
    source = tmp_path / "module.py"
    source.write_text("import numpy\n\ndef read():\n    from vae.run import records\n")
    assert imports_of(source) == [("vae.run.records", 4, True)]


def test_an_import_inside_a_function_only_keeps_tensorflow_out():
    """An import of a `vae` module inside a function names one that loads TensorFlow or Keras: any other belongs at
    the top of its module. And a module that loads TensorFlow itself has nothing to keep out, so no import of it
    sits inside a function."""
    heavy = modules_loading_tensorflow()
    assert {"vae.model.autoencoder", "vae.evaluation.estimators"} <= heavy
    assert not heavy & {"vae", "vae.config", "vae.errors", "vae.files", "vae.run.directory", "vae.run.records"}, heavy
    misplaced = []
    for module, path in modules().items():
        for imported, line, inside in imports_of(path):
            if inside and imported not in heavy:
                misplaced.append(f"{path.relative_to(ROOT)}:{line} imports {imported}, which loads no TensorFlow")
        if module in heavy:
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    for inner in ast.walk(node):
                        if isinstance(inner, (ast.Import, ast.ImportFrom)):
                            misplaced.append(f"{path.relative_to(ROOT)}:{inner.lineno} imports inside a function")
    assert not misplaced, "imports that belong at the top of their module:\n" + "\n".join(misplaced)


@pytest.mark.slow
def test_the_bottom_layer_loads_neither_tensorflow_nor_keras():
    code = (
        "import sys, vae, vae.config, vae.errors, vae.files\n"
        "loaded = sorted(name for name in sys.modules if name.split('.')[0] in ('tensorflow', 'keras'))\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
