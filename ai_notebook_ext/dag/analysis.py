"""What a block's code defines, references and mutates at the top level (pure, no I/O).

The graph (``graph.py``) links a block to the nearest earlier block that defines or
mutates a name it references or mutates, so the three sets must be right for Python's
scoping rules:

- **defines**: names bound in the module namespace once the block has run: assignment
  targets (tuple, starred, annotated with a value, augmented when bound earlier in the
  block), ``import a.b`` (``a``), ``from m import x as y`` (``y``), ``def``/``class``
  names, ``for``/``with``/``match`` targets, walrus targets (also from comprehensions),
  names a function declares ``global`` and assigns. ``except ... as e`` is not a
  definition (Python unbinds it after the handler); ``del x`` removes one.
- **references**: names read whose value must come from an earlier block: read before
  the block binds them, free names of function and lambda bodies the block does not bind
  anywhere, decorators, defaults and annotations. Builtins are not references.
- **mutates**: names whose existing object the block changes: ``x += 1`` or ``del x``
  without an earlier binding in the block, subscript and attribute stores (``df["c"] =``,
  ``obj.attr =``), method calls whose value is discarded (``lst.append(x)``,
  ``model.fit(X, y)``), any call with ``inplace=True``; also such changes inside function
  bodies to names the function does not bind (calling it changes them). A discarded call
  of methods known to only read their receiver (``df.head()``, ``df.plot()``,
  ``df.groupby("a").sum()``; the tables are in ``methods.py``) is a reference instead.

IPython syntax (``%magic``, ``!cmd``, ``%%cell`` magics, ``obj?``) goes through IPython's
own transformer first (``parsing.py``); the bodies of ``%%time``, ``%%timeit``, ``%%capture`` and
``%%prun`` (and those line magics) are analyzed as the Python they run. Code that cannot
be parsed gives an ``error``, never an exception.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass

from .methods import reads_only
from .parsing import (
    PYTHON_CELL_MAGICS,
    PYTHON_LINE_MAGICS,
    code_hash,
    magic_call,
    parse,
    parse_source,
    transform_ipython,
)
from .scopes import BUILTINS, Scope, ScopeTracker, bound_in

__all__ = ["Analysis", "analyze", "base_name", "code_hash", "parse", "transform_ipython"]


@dataclass(frozen=True)
class Analysis:
    """The names a block defines, references and mutates, or why it could not be read."""

    defines: frozenset[str] = frozenset()
    references: frozenset[str] = frozenset()
    mutates: frozenset[str] = frozenset()
    imports: frozenset[str] = frozenset()  # the defines that are modules (import ...)
    star_imports: tuple[str, ...] = ()  # modules imported with *: defines unknown names
    error: str | None = None
    ipython: bool = False  # the code needed IPython's transformer (magics, shell escapes)
    code_defs: frozenset[str] = frozenset()  # names bound to code: def, class, import
    top_level_await: bool = False


@functools.lru_cache(maxsize=4096)
def analyze(source: str) -> Analysis:
    """Analyze one block's code; never raises. Results are immutable and cached by source
    (a project's graph is rebuilt often; its blocks rarely change)."""
    tree, error, transformed = parse_source(source)
    if tree is None:
        return Analysis(error=error)
    visitor = _ModuleVisitor()
    try:
        visitor.run(tree)
    except RecursionError:
        return Analysis(error="the code is nested too deeply to analyze")
    return visitor.result(transformed)


def base_name(node: ast.expr) -> str | None:
    """``df`` for ``df``, ``df["a"].b``, ``df.loc[0]`` or ``df.groupby("a").x`` (through
    method calls, not through calls of functions: ``f(x).y`` has none)."""
    while True:
        if isinstance(node, ast.Name):
            return node.id
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func
        else:
            return None


def _has_inplace(call: ast.Call) -> bool:
    return any(
        kw.arg == "inplace" and isinstance(kw.value, ast.Constant) and kw.value.value is True
        for kw in call.keywords
    )


class _ModuleVisitor(ScopeTracker):
    """Walks the module in execution order, keeping which names the block bound so far."""

    # -- entry and result

    def run(self, tree: ast.Module) -> None:
        for stmt in tree.body:
            self.statement(stmt)

    def result(self, ipython: bool = False) -> Analysis:
        references = set(self.references)
        references |= self.deferred_refs - self.bound - self.defines
        mutates = set(self.mutates) | (self.deferred_mutations - self.defines)
        return Analysis(
            defines=frozenset(self.defines),
            references=frozenset(references - BUILTINS),
            mutates=frozenset(mutates),
            imports=frozenset(self.imports & self.defines),
            star_imports=tuple(self.star_imports),
            code_defs=frozenset((self.code_defs | self.imports) & self.defines),
            ipython=ipython,
            top_level_await=self.awaits,
        )

    # -- statements

    def statement(self, node: ast.stmt) -> None:
        self.visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        magic = magic_call(node.value)
        if magic is not None and self._python_magic(*magic):
            return
        value = node.value
        if isinstance(value, ast.Await):
            value = value.value
        if (
            isinstance(value, ast.Call)
            and isinstance(value.func, ast.Attribute)
            and not reads_only(value)
        ):
            # A method call whose value is discarded changes its receiver, unless every
            # method on the way is known to only read it (methods.py): df.head().
            self.visit_call_parts(value, receiver_mutated=True)
            return
        self.visit(node.value)

    def _python_magic(self, kind: str, magic: str, line: str, body: str) -> bool:
        """Analyze the Python a %%time-like magic runs; False for other magics."""
        names = PYTHON_CELL_MAGICS if kind == "cell" else PYTHON_LINE_MAGICS
        if magic not in names:
            return False
        inner, _ = parse(body)
        if inner is None:
            return False
        for stmt in inner.body:
            self.statement(stmt)
        if magic == "capture":  # %%capture [--no-stdout ...] [name]: binds the name
            words = [w for w in line.split() if not w.startswith("-")]
            if words and words[-1].isidentifier():
                self.bind(words[-1])
        return True

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        for target in node.targets:
            self.target(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        if self.scope.kind != "function":  # annotations are evaluated outside functions
            self.visit(node.annotation)
        if node.value is not None or not isinstance(node.target, ast.Name):
            self.target(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        target = node.target
        if isinstance(target, ast.Name):
            name = target.id
            if self.scope.kind == "module" or name in self.scope.declared_global:
                # Rebinding a name this block defined, or changing an earlier block's.
                self.mutate(name)
            else:  # a local of a function or class body
                self.load(name)
                self.bind(name)
            return
        self.target(target)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.unbind(target.id)
            else:
                self._visit_store_parts(target)
                self.mutate(base_name(target))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            name = alias.asname or alias.name.split(".")[0]
            self.bind(name)
            if self.scope.kind == "module":
                self.imports.add(name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == "__future__":
            return  # compiler switches, not names anyone uses
        for alias in node.names:
            if alias.name == "*":
                self.star_imports.append("." * node.level + (node.module or ""))
                continue
            name = alias.asname or alias.name
            self.bind(name)
            if self.scope.kind == "module":
                self.imports.add(name)

    def visit_Global(self, node: ast.Global) -> None:
        self.scope.declared_global.update(node.names)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._visit_arguments_outside(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        self.bind(node.name)
        if self.scope.kind == "module":
            self.code_defs.add(node.name)
        self._function_body(node.args, node.body)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node: ast.Lambda) -> None:
        self._visit_arguments_outside(node.args, annotations=False)
        self._function_body(node.args, [node.body])

    def _visit_arguments_outside(self, args: ast.arguments, annotations: bool = True) -> None:
        """Defaults and annotations are evaluated where the function is defined."""
        for default in [*args.defaults, *(d for d in args.kw_defaults if d is not None)]:
            self.visit(default)
        if annotations:
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            every += [a for a in (args.vararg, args.kwarg) if a is not None]
            for arg in every:
                if arg.annotation is not None:
                    self.visit(arg.annotation)

    def _function_body(self, args: ast.arguments, body: list[ast.stmt] | list[ast.expr]) -> None:
        params = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
        params |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
        local, declared_global, _ = bound_in(body)
        scope = Scope("function", local | params, declared_global)
        self.scopes.append(scope)
        try:
            for item in body:
                if isinstance(item, ast.stmt):
                    self.statement(item)
                else:
                    self.visit(item)
        finally:
            self.scopes.pop()

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        for base in node.bases:
            self.visit(base)
        for keyword in node.keywords:
            self.visit(keyword.value)
        self.scopes.append(Scope("class"))
        try:
            for stmt in node.body:
                self.statement(stmt)
        finally:
            self.scopes.pop()
        self.bind(node.name)
        if self.scope.kind == "module":
            self.code_defs.add(node.name)

    def _note_async(self) -> None:
        if not any(s.kind == "function" for s in self.scopes):
            self.awaits = True

    def visit_Await(self, node: ast.Await) -> None:
        self._note_async()
        self.visit(node.value)

    def visit_For(self, node: ast.For | ast.AsyncFor) -> None:
        if isinstance(node, ast.AsyncFor):
            self._note_async()
        self.visit(node.iter)
        self.target(node.target)
        for stmt in [*node.body, *node.orelse]:
            self.statement(stmt)

    visit_AsyncFor = visit_For

    def visit_With(self, node: ast.With | ast.AsyncWith) -> None:
        if isinstance(node, ast.AsyncWith):
            self._note_async()
        for item in node.items:
            self.visit(item.context_expr)
            if item.optional_vars is not None:
                self.target(item.optional_vars)
        for stmt in node.body:
            self.statement(stmt)

    visit_AsyncWith = visit_With

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.type is not None:
            self.visit(node.type)
        name = node.name
        was_bound = name is not None and name in self.bound
        was_defined = name is not None and name in self.defines
        if name:
            self.bind(name)
        for stmt in node.body:
            self.statement(stmt)
        if name and self.scope.kind == "module":  # Python unbinds it after the handler
            if not was_bound:
                self.bound.discard(name)
            if not was_defined:
                self.defines.discard(name)

    def visit_match_case(self, node: ast.match_case) -> None:
        self.visit(node.pattern)
        if node.guard is not None:
            self.visit(node.guard)
        for stmt in node.body:
            self.statement(stmt)

    def visit_MatchAs(self, node: ast.MatchAs) -> None:
        if node.pattern is not None:
            self.visit(node.pattern)
        if node.name:
            self.bind(node.name)

    def visit_MatchStar(self, node: ast.MatchStar) -> None:
        if node.name:
            self.bind(node.name)

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        for key in node.keys:
            self.visit(key)
        for pattern in node.patterns:
            self.visit(pattern)
        if node.rest:
            self.bind(node.rest)

    # -- targets

    def target(self, node: ast.expr) -> None:
        """An assignment target: names are bound, subscripts and attributes mutate."""
        if isinstance(node, ast.Name):
            self.bind(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for element in node.elts:
                self.target(element)
        elif isinstance(node, ast.Starred):
            self.target(node.value)
        elif isinstance(node, (ast.Attribute, ast.Subscript)):
            self._visit_store_parts(node)
            self.mutate(base_name(node))

    def _visit_store_parts(self, node: ast.expr) -> None:
        """The expressions inside ``a[i].b[j]`` other than the base name: ``i`` and ``j``."""
        while isinstance(node, (ast.Attribute, ast.Subscript)) or (
            isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        ):
            if isinstance(node, ast.Subscript):
                self.visit(node.slice)
                node = node.value
            elif isinstance(node, ast.Call):
                for arg in node.args:
                    self.visit(arg)
                for keyword in node.keywords:
                    self.visit(keyword.value)
                node = node.func
            else:
                node = node.value
        if not isinstance(node, ast.Name):
            self.visit(node)

    # -- expressions

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Load):
            self.load(node.id)
        elif isinstance(node.ctx, ast.Store):
            self.bind(node.id)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self.bind(node.target.id)

    def visit_Call(self, node: ast.Call) -> None:
        self.visit_call_parts(node, receiver_mutated=_has_inplace(node))

    def visit_call_parts(self, node: ast.Call, receiver_mutated: bool) -> None:
        if receiver_mutated and isinstance(node.func, ast.Attribute):
            self._visit_store_parts(node.func)
            self.mutate(base_name(node.func))
        else:
            self.visit(node.func)
        for arg in node.args:
            self.visit(arg)
        for keyword in node.keywords:
            self.visit(keyword.value)

    def _comprehension(self, node: ast.expr, elements: list[ast.expr]) -> None:
        generators: list[ast.comprehension] = node.generators  # type: ignore[attr-defined]
        # The first iterable is evaluated in the enclosing scope.
        self.visit(generators[0].iter)
        scope = Scope("comprehension")
        self.scopes.append(scope)
        try:
            for index, generator in enumerate(generators):
                if generator.is_async:
                    self._note_async()
                if index:
                    self.visit(generator.iter)
                self._comprehension_target(generator.target, scope)
                for condition in generator.ifs:
                    self.visit(condition)
            for element in elements:
                self.visit(element)
        finally:
            self.scopes.pop()

    @staticmethod
    def _comprehension_target(node: ast.expr, scope: Scope) -> None:
        for name in ast.walk(node):
            if isinstance(name, ast.Name):
                scope.local.add(name.id)

    def visit_ListComp(self, node: ast.ListComp) -> None:
        self._comprehension(node, [node.elt])

    visit_SetComp = visit_ListComp
    visit_GeneratorExp = visit_ListComp

    def visit_DictComp(self, node: ast.DictComp) -> None:
        self._comprehension(node, [node.key, node.value])
