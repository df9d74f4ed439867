"""The library's shape: no function longer than 60 lines (def line to last line, docstring
included), so each reads on one screen."""
from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[1] / "scripts" / "wasurenai"
MAX_LINES = 60


def long_functions(root: Path, max_lines: int = MAX_LINES) -> list[str]:
    """Every function or method under ``root`` (nested ones included, by their dotted path)
    longer than ``max_lines``, as "file:function:lines"."""
    found = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        stack: list[tuple[ast.AST, str]] = [(tree, "")]
        while stack:
            node, prefix = stack.pop()
            for child in ast.iter_child_nodes(node):
                name = prefix
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}{child.name}"
                    lines = child.end_lineno - child.lineno + 1
                    if not isinstance(child, ast.ClassDef) and lines > max_lines:
                        found.append(f"{path.relative_to(root.parent)}:{name}:{lines}")
                    name += "."
                stack.append((child, name))
    return sorted(found)


def test_no_library_function_is_longer_than_60_lines():
    assert LIBRARY.is_dir(), LIBRARY
    too_long = long_functions(LIBRARY)
    assert not too_long, (f"functions longer than {MAX_LINES} lines (file:function:lines): "
                          + ", ".join(too_long))


def _function(name: str, n_lines: int, indent: str = "") -> str:
    lines = [f"def {name}():", *(f"    x{i} = {i}" for i in range(n_lines - 1))]
    return "".join(f"{indent}{line}\n" for line in lines)


def test_the_check_names_file_function_and_lines(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "ok.py").write_text(_function("fits", MAX_LINES))
    (pkg / "sub" / "long.py").write_text(
        "class C:\n" + _function("method", MAX_LINES + 1, "    ")
        + "def outer():\n" + _function("inner", MAX_LINES + 1, "    ") + "    return inner\n")
    assert long_functions(pkg) == ["pkg/sub/long.py:C.method:61", "pkg/sub/long.py:outer.inner:61",
                                   "pkg/sub/long.py:outer:63"]
