"""The package's layout: stages import only from the stages below them, and no module
imports itself back through others (lazy imports inside functions included)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "translator"
# Lowest first; the command line (modules at the package's top) sits above every stage.
STAGES = ["core", "data", "models", "decoding", "training", "serving"]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """Modules of the package that ``path`` imports anywhere in its body."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name in modules}


def graph() -> dict[str, set[str]]:
    paths = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    modules = set(paths)
    return {name: imports_of(path, modules) - {name} for name, path in paths.items()}


def level(module: str) -> int:
    parts = module.split(".")
    return STAGES.index(parts[1]) if len(parts) > 2 else len(STAGES)


def test_every_module_lives_in_a_stage_or_is_the_command_line():
    top = {n for n in graph() if n.count(".") == 1 and n.split(".")[1] not in STAGES}
    assert top == {"translator.__main__", "translator.commands", "translator.translate"}
    assert {name.split(".")[1] for name in graph() if name.count(".") == 2} == set(STAGES)


def test_stages_import_only_from_the_stages_below():
    upward = [
        f"{importer} -> {imported}"
        for importer, imported_set in graph().items()
        for imported in imported_set
        if len(imported.split(".")) > 2 and level(imported) > level(importer)
    ]
    assert not upward


def test_no_import_circle():
    edges = {name: {m for m in imported if m.count(".") > 1} for name, imported in graph().items()}
    done, path = set(), []

    def visit(module):
        if module in path:
            raise AssertionError(" -> ".join(path[path.index(module) :] + [module]))
        if module in done:
            return
        path.append(module)
        for imported in sorted(edges.get(module, ())):
            visit(imported)
        path.pop()
        done.add(module)

    for module in sorted(edges):
        visit(module)
