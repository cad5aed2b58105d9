"""JSONPath reads and writes, ``.=`` expressions and parameter templates of the Flows language.

Reads use jsonpath-ng (parsed expressions are cached, parsing costs far more than reading).
Writes (``ResultPath``) accept the dotted form only (``$``, ``$.a.b``).
"""

from __future__ import annotations

import ast
import copy
import functools
import os.path
import re
import threading
from typing import Any, Mapping

import simpleeval
from jsonpath_ng.ext import parse as _jsonpath_parse  # filters: [?(@.x > 1)]

_MISSING = object()
_BACKTICK = re.compile(r"`([^`]*)`")
# Anything that can select several values makes a JSONPath "plural": it then yields a list.
_PLURAL = re.compile(r"\*|\.\.|\[\?|\[[^\]]*[:,][^\]]*\]")
_SIMPLE_SEGMENT = re.compile(r"\.([A-Za-z_][\w\-]*)|\[(\d+)\]|\['([^']*)'\]|\[\"([^\"]*)\"\]")


class PathError(ValueError):
    """A JSONPath is malformed or selects nothing."""


@functools.lru_cache(maxsize=4096)
def _compiled(path: str):
    try:
        return _jsonpath_parse(path)
    except Exception as exc:  # JsonPathParserError, and plain Exceptions from the lexer
        raise PathError(f"invalid JSONPath {path!r}: {exc}") from None


@functools.lru_cache(maxsize=4096)
def _simple_segments(path: str) -> tuple | None:
    """Split ``$.a.b[0]`` into ('a', 'b', 0); None when the path needs the full parser."""
    if path == "$":
        return ()
    if not path.startswith("$"):
        return None
    pos, segs = 1, []
    while pos < len(path):
        m = _SIMPLE_SEGMENT.match(path, pos)
        if not m:
            return None
        name, index, q1, q2 = m.groups()
        segs.append(int(index) if index is not None else (name or q1 or q2))
        pos = m.end()
    return tuple(segs)


def is_valid_path(path: str) -> bool:
    """True when ``path`` is a JSONPath the runner can read."""
    if not isinstance(path, str) or not path.startswith("$"):
        return False
    try:
        _compiled(path)
    except PathError:
        return False
    return True


def is_writable_path(path: str) -> bool:
    """True when ``path`` can be a ResultPath: ``$`` or a dotted path such as ``$.a.b``."""
    segs = _simple_segments(path) if isinstance(path, str) else None
    return segs is not None and not any(isinstance(s, int) for s in segs)


def read_path(data: Any, path: str, default: Any = _MISSING) -> Any:
    """Value at ``path`` in ``data``; a plural path returns a list of matches.

    :raises PathError: when nothing is selected and no default is given
    """
    segs = _simple_segments(path)
    if segs is not None:  # fast path, by far the most common form
        cur = data
        for seg in segs:
            try:
                if isinstance(cur, str):  # JSONPath does not index into strings
                    raise TypeError
                cur = cur[seg]
            except (KeyError, IndexError, TypeError):
                if default is not _MISSING:
                    return default
                raise PathError(f"no value at {path!r}") from None
        return cur
    matches = [m.value for m in _compiled(path).find(data)]
    if _PLURAL.search(path):
        return matches
    if not matches:
        if default is not _MISSING:
            return default
        raise PathError(f"no value at {path!r}")
    return matches[0]


def is_present(data: Any, path: str) -> bool:
    """True when ``path`` selects at least one value."""
    try:
        value = read_path(data, path)
    except PathError:
        return False
    return not (_PLURAL.search(path) and value == [])


def write_path(data: dict, path: str, value: Any) -> dict:
    """Return the state after placing ``value`` at ``path`` (``$`` replaces everything).

    Intermediate objects are created as needed; ``data`` itself is modified in place.
    """
    segs = _simple_segments(path)
    if segs is None or any(isinstance(s, int) for s in segs):
        raise PathError(f"ResultPath {path!r} must be '$' or a dotted path like '$.a.b'")
    if not segs:
        if not isinstance(value, dict):
            # The run state is always an object; Flows wraps nothing, so refuse clearly.
            raise PathError("a result written at '$' must be a JSON object")
        return value
    cur = data
    for seg in segs[:-1]:
        nxt = cur.get(seg)
        if not isinstance(nxt, dict):
            nxt = {}
            cur[seg] = nxt
        cur = nxt
    cur[segs[-1]] = value
    return data


# --------------------------------------------------------------------------- expressions

def _pathsplit(path: str) -> list[str]:
    head, tail = os.path.split(path)
    if head == "/~":  # Globus Transfer's home root is never split (Expressions docs)
        head = "/~/"
    return [head, tail]


class _FlowsEvaluator(simpleeval.EvalWithCompoundTypes):
    """``a.b`` reads key ``b`` of object ``a`` -- before any attribute of the same name, so a
    key called ``items`` or ``keys`` is the value in the run state, not a dict method."""

    def _eval_attribute(self, node):
        value = self._eval(node.value)
        if isinstance(value, dict):
            if node.attr in value:
                return value[node.attr]
            raise simpleeval.AttributeDoesNotExist(node.attr, self.expr)
        return super()._eval_attribute(node)


# CPython 3.11 keeps the AST constructor's recursion depth per interpreter, not per thread:
# two threads parsing at once fail with "AST constructor recursion depth mismatch"
# (python/cpython gh-106905), so every parse of the local backend takes this lock.
_AST_LOCK = threading.Lock()


def parse_python(source: str, mode: str = "eval") -> ast.AST:
    """:func:`ast.parse`, one thread at a time (see ``_AST_LOCK``)."""
    with _AST_LOCK:
        return ast.parse(source, mode=mode)


@functools.lru_cache(maxsize=4096)
def _parsed_expression(expression: str):
    with _AST_LOCK:
        return simpleeval.SimpleEval.parse(expression)


class _Expressions:
    """Evaluates ``.=`` expressions; names resolve against the run state."""

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.state = state
        self._evaluator: _FlowsEvaluator | None = None

    def _is_present(self, name: str) -> bool:
        return is_present(self.state, _as_path(name))

    def _getattr(self, obj: Any, key: Any = None, default: Any = None) -> Any:
        # getattr("a.b", default) looks a name up in the run state;
        # getattr(obj, key, default) reads a key of an object.
        if isinstance(obj, str):
            return read_path(self.state, _as_path(obj), key)
        if isinstance(obj, Mapping):
            return obj.get(key, default)
        return getattr(obj, key, default)

    def evaluate(self, expression: str) -> Any:
        if self._evaluator is None:
            self._evaluator = self._make_evaluator()
        if "`" in expression:
            # the older form: `$.a.b` stands for the value at that JSONPath
            paths = _BACKTICK.findall(expression)
            names = {f"__path_{i}__": read_path(self.state, p) for i, p in enumerate(paths)}
            counter = iter(names)
            expression = _BACKTICK.sub(lambda m: next(counter), expression)
            self._evaluator.names.update(names)
        try:
            return self._evaluator.eval(expression, _parsed_expression(expression))
        except Exception as exc:  # simpleeval raises many types; report them uniformly
            raise PathError(f"expression {expression!r} failed: {exc}") from None

    def _make_evaluator(self) -> _FlowsEvaluator:
        return _FlowsEvaluator(
            names=dict(self.state),
            functions={
                "pathsplit": _pathsplit,
                "is_present": self._is_present,
                "getattr": self._getattr,
            },  # the functions the Flows docs list, and no more (see flow_rules.py)
        )


def _as_path(name: str) -> str:
    if name.startswith("$"):
        return name
    return "$." + name


def evaluate_expression(state: Mapping[str, Any], expression: str) -> Any:
    """Evaluate a Flows ``.=`` expression against ``state``.

    Functions (those of the Flows docs, no others): ``pathsplit(p)`` -> [head, tail];
    ``is_present("a.b")``; ``getattr("a.b", default)`` (or ``getattr(obj, key, default)``).
    """
    return _Expressions(state).evaluate(expression)


def render_parameters(template: Any, state: Mapping[str, Any],
                      _expressions: "_Expressions | None" = None) -> Any:
    """Resolve a ``Parameters`` template: ``key.$`` reads a JSONPath, ``key.=`` evaluates an
    expression, anything else is copied; nested objects and lists are resolved recursively.

    :raises PathError: naming the key whose path or expression could not be resolved
    """
    if not isinstance(template, (dict, list)):
        return template
    if _expressions is None:
        _expressions = _Expressions(state)
    if isinstance(template, dict):
        out = {}
        for key, value in template.items():
            if key.endswith(".$"):
                if not isinstance(value, str):
                    raise PathError(f"{key!r}: a '.$' key needs a JSONPath string")
                try:
                    out[key[:-2]] = copy.deepcopy(read_path(state, value))
                except PathError as exc:
                    raise PathError(f"{key!r}: {exc}") from None
            elif key.endswith(".="):
                if not isinstance(value, str):
                    raise PathError(f"{key!r}: a '.=' key needs an expression string")
                try:
                    out[key[:-2]] = _expressions.evaluate(value)
                except PathError as exc:
                    raise PathError(f"{key!r}: {exc}") from None
            else:
                out[key] = render_parameters(value, state, _expressions)
        return out
    return [render_parameters(v, state, _expressions) for v in template]
