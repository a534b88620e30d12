"""The memory package stays small and readable, and its public names stay where callers find them."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import memory

PACKAGE = Path(memory.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))


def _body_lines(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """Lines of a function, its docstring left out."""
    lines = fn.end_lineno - fn.lineno + 1
    first = fn.body[0]
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        lines -= first.end_lineno - first.lineno + 1
    return lines


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_module_and_function_sizes(path):
    source = path.read_text()
    assert len(source.splitlines()) <= 500, f"{path.name} has over 500 lines: split it"
    long = [f"{node.name} ({_body_lines(node)} lines)" for node in ast.walk(ast.parse(source))
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and _body_lines(node) > 80]
    assert not long, f"{path.name}: functions over 80 lines, docstrings aside: {long}"


def test_public_names():
    from memory.atomic import write_bytes_atomic
    from memory.errors import StoreError
    from memory.store import DB_FILE, META_FILE, SCHEMA_VERSION, EpisodicStore

    assert memory.__all__ == ["SCHEMA_VERSION", "EpisodicStore", "Hit", "ObservationLike", "Segment", "StoreError"]
    assert (META_FILE, DB_FILE, SCHEMA_VERSION) == ("store.json", "segments.sqlite", 2)
    assert memory.EpisodicStore is EpisodicStore and memory.StoreError is StoreError
    assert callable(write_bytes_atomic)
    for name in ("open", "close", "flush", "transaction", "add", "set_progress", "remove_source",
                 "get_progress", "sources", "get", "segments", "search", "text_search", "spaces"):
        assert hasattr(EpisodicStore, name), name
