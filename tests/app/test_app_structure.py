"""The web app reaches the library through its public API only, in small modules."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from tests.conftest import REPO

APP_FILES = [REPO / "app.py", *sorted((REPO / "avatar" / "webapp").glob("*.py"))]
#: The library's public entry points; a name is public when the module lists it in __all__.
PUBLIC_MODULES = {
    "avatar",
    "avatar.audio",
    "avatar.errors",
    "avatar.face",
    "avatar.motion",
    "avatar.refine",
    "avatar.render",
    "avatar.settings",
    "avatar.speech",
    "avatar.speech.tts",
    "avatar.system",
    "avatar.weights",
    "pipelines",
}


def _library_imports(path: Path) -> list[tuple[str, str | None, int]]:
    """(module, name or None for ``import module``, line) for every import of the library."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.module, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None, node.lineno) for alias in node.names]
    return [
        (m, n, line)
        for m, n, line in found
        if m.split(".")[0] in ("avatar", "pipelines")
        and not m.startswith("avatar.webapp")
        and not (m == "avatar" and n == "webapp")
    ]


@pytest.mark.parametrize("path", APP_FILES, ids=lambda p: p.name)
def test_the_app_imports_only_public_names(path):
    private = []
    for module, name, line in _library_imports(path):
        if module not in PUBLIC_MODULES:
            private.append(f"{path.name}:{line} imports from {module}")
            continue
        if name is None:
            continue
        exported = getattr(importlib.import_module(module), "__all__", ())
        if name not in exported:
            private.append(f"{path.name}:{line} imports {module}.{name}, not in its __all__")
    assert private == []


def test_the_app_package_is_small_modules():
    sizes = {p.name: len(p.read_text().splitlines()) for p in APP_FILES}
    assert all(n <= 400 for name, n in sizes.items() if name != "app.py"), sizes
    assert not (REPO / "avatar" / "app_support.py").exists()


def test_every_public_name_exists():
    for module in PUBLIC_MODULES:
        mod = importlib.import_module(module)
        missing = [n for n in getattr(mod, "__all__", ()) if not hasattr(mod, n)]
        assert missing == [], (module, missing)
