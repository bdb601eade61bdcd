"""The house rules of issue 12, read from the source (no import is executed).

Rooms: ``core`` imports nothing of ours; ``imaging`` and ``nets`` import ``core``; ``survival``
imports ``core``; ``inference`` imports ``imaging``, ``nets``, ``core``; ``views`` never import
Streamlit or ``training``; Streamlit only in ``model/cached/`` (and the pages, ``app.py``);
``training`` never imports ``model.cached``, ``app_pages`` or ``model.views``. No module under
``model/`` is over 700 lines and ``model/`` has no import cycle.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ROOMS_BELOW = {
    "core": set(),
    "imaging": {"core"},
    "nets": {"core"},
    "survival": {"core"},
    "inference": {"core", "imaging", "nets"},
}
#: Edges that break a rule on purpose, with the reason (reviewed, not silently allowed).
EXCEPTIONS = {
    ("model.inference.classify", "model.survival.risk"):
        "the one risk group / percentile definition (model.survival.risk: numpy and pandas only)",
}


def _modules(*folders: str) -> dict[str, Path]:
    out = {}
    for folder in folders:
        for p in sorted((ROOT / folder).rglob("*.py")):
            name = ".".join(p.relative_to(ROOT).with_suffix("").parts)
            out[name.removesuffix(".__init__")] = p
    return out


MODULES = _modules("model", "training", "app_pages")


def _imports(path: Path) -> set[str]:
    """Every module named by an import statement of ``path`` (top level or inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{a.name}" for a in node.names}
    return names


IMPORTS = {m: _imports(p) for m, p in MODULES.items()}


def _ours(names: set[str]) -> set[str]:
    return {n for n in names if n in MODULES}


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if parts[0] == "model" and len(parts) >= 2 else parts[0]


def test_cached_is_one_package():
    """model/cached/ is a package; a model/cached.py beside it would be shadowed silently."""
    assert (ROOT / "model" / "cached" / "__init__.py").is_file()
    assert not (ROOT / "model" / "cached.py").exists()


def test_streamlit_only_in_cached():
    users = {m for m, names in IMPORTS.items() if m.startswith("model")
             and any(n == "streamlit" or n.startswith("streamlit.") for n in names)}
    assert users and all(m.startswith("model.cached") for m in users)


@pytest.mark.parametrize("room", sorted(ROOMS_BELOW))
def test_rooms_import_only_the_rooms_below(room):
    bad = []
    for m, names in IMPORTS.items():
        if not m.startswith(f"model.{room}"):
            continue
        for target in _ours(names):
            r = _room(target)
            if r != room and r not in ROOMS_BELOW[room] and (m, target) not in EXCEPTIONS:
                bad.append(f"{m} -> {target}")
    assert not bad


def test_views_never_import_training_or_streamlit():
    bad = [f"{m} -> {n}" for m, names in IMPORTS.items() if m.startswith("model.views")
           for n in names if n.split(".")[0] in ("training", "streamlit", "app_pages")
           or n == "model.cached"]
    assert not bad


def test_training_never_imports_cached_pages_or_views():
    bad = [f"{m} -> {n}" for m, names in IMPORTS.items() if m.startswith("training")
           for n in names if n == "model.cached" or n.startswith(("model.views", "app_pages", "streamlit"))]
    assert not bad


def _long_modules() -> dict[str, int]:
    return {m: n for m, p in MODULES.items() if m.startswith("model")
            and (n := len(p.read_text().splitlines())) > 700}


def test_no_module_under_model_is_over_700_lines():
    assert not _long_modules()


def test_model_has_no_import_cycle():
    graph = {m: {t for t in _ours(IMPORTS[m]) if t.startswith("model") and t != m}
             for m in MODULES if m.startswith("model")}
    # A package's __init__ importing its own submodules is not a cycle of rooms.
    graph = {m: {t for t in ts if not t.startswith(m + ".")} for m, ts in graph.items()}
    state, cycles = {}, []

    def visit(u, path):
        state[u] = 1
        for v in graph.get(u, ()):
            if state.get(v) == 1:
                cycles.append(path[path.index(v):] + [v])
            elif not state.get(v):
                visit(v, path + [v])
        state[u] = 2

    for m in graph:
        if not state.get(m):
            visit(m, [m])
    assert not cycles
