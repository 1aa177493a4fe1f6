"""Architecture rules that are cheap to check: one-way imports, a thin CLI, a library that never prints."""
from __future__ import annotations

import ast
from pathlib import Path

import wsol

PACKAGE = Path(wsol.__file__).parent


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, imported names)`` of every ``import`` / ``from ... import`` in a file (function bodies included)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            out.append((node.module, [a.name for a in node.names]))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
    return out


def _modules(sub: str) -> list[Path]:
    return sorted((PACKAGE / sub).rglob("*.py"))


def test_report_renders_only():
    banned = ("wsol.models", "wsol.engine", "wsol.cam", "wsol.robustness", "wsol.data", "wsol.demo", "torch")
    for path in _modules("report"):
        for module, _ in _imports(path):
            assert not module.startswith(banned), f"{path.name} imports {module}"


def test_cli_modules_import_no_private_names_of_each_other():
    for path in _modules("cli"):
        for module, names in _imports(path):
            if module.startswith("wsol.cli"):
                private = [n for n in names if n.startswith("_")]
                assert not private, f"{path.name} imports {private} from {module}"


def test_imports_flow_one_way():
    """A layer imports only from layers to its left (STYLE.md): data -> methods -> models -> cam -> localization ->
    engine -> robustness / ood -> report; the CLI, the demo and the facade sit on top."""
    order = ["data", "methods", "models", "cam", "localization", "engine", "robustness", "ood", "report"]
    top = ("wsol.cli", "wsol.demo", "wsol.api", "wsol.paper")
    for rank, layer in enumerate(order):
        later = tuple(f"wsol.{other}" for other in order[rank + 1:] if {layer, other} != {"robustness", "ood"})
        for path in _modules(layer):
            for module, _ in _imports(path):
                assert not module.startswith(later + top), f"wsol/{layer}/{path.name} imports {module}"


def test_the_library_never_prints_or_parses_argv():
    for path in sorted(PACKAGE.rglob("*.py")):
        if "cli" in path.relative_to(PACKAGE).parts:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id != "print", f"{path} line {node.lineno} prints"
            if isinstance(node, ast.Attribute) and node.attr == "argv":
                assert False, f"{path} line {node.lineno} reads argv"


def test_no_model_is_moved_with_cuda():
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cuda":
                assert False, f"{path} line {node.lineno} calls .cuda()"


def test_one_torch_load():
    hits = [f"{p.relative_to(PACKAGE)}:{n.lineno}" for p in sorted(PACKAGE.rglob("*.py"))
            for n in ast.walk(ast.parse(p.read_text(encoding="utf-8")))
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "load"
            and isinstance(n.func.value, ast.Name) and n.func.value.id == "torch"]
    assert len(hits) == 1 and hits[0].startswith("models/loading.py:"), hits
