"""Scope tracking for the block analysis: which names a block has bound so far, and
whether a name read or changed inside a function, class or comprehension is local there
or reaches the module namespace (Python's scoping rules, without running the code)."""

from __future__ import annotations

import ast
import builtins
from dataclasses import dataclass, field
from typing import Any

# Python's builtins and what IPython puts in every user namespace (output history too).
IPYTHON_NAMES = {"get_ipython", "display", "In", "Out", "exit", "quit", "_oh", "_ih", "_dh"}
BUILTINS = frozenset(dir(builtins)) | IPYTHON_NAMES | {"_", "__", "___", "_i", "_ii", "_iii"}


def bound_in(body: list[ast.stmt] | list[ast.AST]) -> tuple[set[str], set[str], set[str]]:
    """Names a function body binds, declares global and declares nonlocal (not looking into
    nested functions or classes, except for their names)."""
    bound: set[str] = set()
    declared_global: set[str] = set()
    declared_nonlocal: set[str] = set()
    stack: list[ast.AST] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Global):
            declared_global.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            declared_nonlocal.update(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            stack.extend(node.decorator_list)
            if not isinstance(node, ast.ClassDef):
                stack.extend(node.args.defaults)
                stack.extend(d for d in node.args.kw_defaults if d is not None)
            else:
                stack.extend(node.bases)
            continue
        elif isinstance(node, ast.Lambda):
            stack.extend(node.args.defaults)
            continue
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                if alias.name != "*":
                    bound.add((alias.asname or alias.name).split(".")[0])
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            bound.add(node.rest)
        stack.extend(ast.iter_child_nodes(node))
    return bound - declared_global - declared_nonlocal, declared_global, declared_nonlocal


@dataclass
class Scope:
    kind: str  # module | function | class | comprehension
    local: set[str] = field(default_factory=set)
    declared_global: set[str] = field(default_factory=set)


class ScopeTracker(ast.NodeVisitor):
    """The module's bindings so far and the stack of enclosing scopes; subclasses visit
    statements in execution order and call ``load``/``bind``/``unbind``/``mutate``."""

    def __init__(self) -> None:
        self.bound: set[str] = set()  # module names bound so far, in execution order
        self.defines: set[str] = set()
        self.references: set[str] = set()
        self.mutates: set[str] = set()
        self.imports: set[str] = set()
        self.code_defs: set[str] = set()
        self.awaits = False  # top-level await, async for or async with
        self.star_imports: list[str] = []
        self.deferred_refs: set[str] = set()  # free names of function bodies
        self.deferred_mutations: set[str] = set()
        self.scopes: list[Scope] = [Scope("module")]

    # -- dispatch: NodeVisitor's getattr per node, cached per node type

    _methods: dict[type, Any] = {}

    def visit(self, node: ast.AST) -> Any:
        kind = type(node)
        method = self._methods.get(kind)
        if method is None:
            method = getattr(type(self), "visit_" + kind.__name__, type(self).generic_visit)
            self._methods[kind] = method
        return method(self, node)

    def generic_visit(self, node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            self.visit(child)

    def visit_Constant(self, node: ast.Constant) -> None:
        return None

    # -- scope helpers

    @property
    def scope(self) -> Scope:
        return self.scopes[-1]

    def _resolves_locally(self, name: str) -> bool:
        """Whether ``name`` read here is a local of an enclosing function or comprehension."""
        for scope in reversed(self.scopes):
            if name in scope.declared_global:
                return False
            if scope.kind in ("function", "comprehension") and name in scope.local:
                return True
            if scope.kind == "class" and scope is self.scope and name in scope.local:
                return True
        return False

    def load(self, name: str) -> None:
        if self._resolves_locally(name):
            return
        if any(s.kind == "function" for s in self.scopes):
            self.deferred_refs.add(name)
        elif name not in self.bound and name not in BUILTINS:
            self.references.add(name)

    def bind(self, name: str) -> None:
        """A store of ``name`` in the current scope."""
        scope = self.scope
        if scope.kind == "comprehension":  # only walrus gets here: enclosing scope
            for outer in reversed(self.scopes):
                if outer.kind != "comprehension":
                    scope = outer
                    break
        if scope.kind == "module" or name in scope.declared_global:
            self.bound.add(name)
            self.defines.add(name)
        else:
            scope.local.add(name)

    def unbind(self, name: str) -> None:
        """``del name``: outside the block's own bindings it changes an earlier block's."""
        if self.scope.kind != "module" and name not in self.scope.declared_global:
            return
        if name in self.bound:
            self.bound.discard(name)
            self.defines.discard(name)
        else:
            self.mutates.add(name)

    def mutate(self, name: str | None) -> None:
        if name is None or name in BUILTINS or self._resolves_locally(name):
            return
        if any(s.kind == "function" for s in self.scopes):
            self.deferred_mutations.add(name)
        elif name not in self.bound:
            self.mutates.add(name)
