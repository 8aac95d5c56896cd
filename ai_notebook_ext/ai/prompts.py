"""Prompt templates: the built-ins and the rules every template follows.

A template is a system message and a user message written in Jinja2, plus the variables
it declares. It may use only declared variables (checked when it is saved). Rendering
fills required variables from the caller and optional ones from their defaults; unknown
or missing values are errors that name the variable.

Templates come from users, so rendering is sandboxed twice over:
- Jinja2's ImmutableSandboxedEnvironment refuses internals (``__class__`` and the like)
  and mutation.
- A budget bounds the work: loop iterations and calls (macros, methods, filters) per
  render, the size of numbers handed to calls and operators, the size of every value
  built on the way (concatenation, ``+``, ``*``, filter results) and of the output.
  ``str.format`` and ``%`` formatting are refused because their widths hide in strings.

jinja2 is imported on first use, so loading the magics stays cheap.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache, wraps
from typing import Any

NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
RENDER_MAX = 400_000  # characters of rendered output
LOOP_BUDGET = 100_000  # loop iterations per render
NUMBER_MAX = 100_000  # largest integer a template may pass to a call or repeat by
SAFE_FILTERS = (
    *("abs", "capitalize", "count", "default", "d", "dictsort", "first", "float"),
    *("int", "items", "join", "last", "length", "list", "lower", "map", "max", "min"),
    *("replace", "reject", "rejectattr", "reverse", "round", "select", "selectattr", "sort"),
    *("string", "striptags", "sum", "title", "tojson", "trim", "truncate", "unique", "upper"),
    *("wordcount",),
)
RESERVED = frozenset({"true", "false", "none", "True", "False", "None", "loop", "range"})


class TemplateError(ValueError):
    """A template that cannot be saved or rendered; ``field`` names what to change."""

    def __init__(self, message: str, field: str = "template") -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Variable:
    """A declared template variable."""

    name: str
    description: str = ""
    required: bool = True
    default: Any = ""


@dataclass(frozen=True)
class PromptTemplate:
    """A named system + user message pair with declared variables."""

    name: str
    description: str
    template: str
    system: str = ""
    variables: tuple[Variable, ...] = ()
    builtin: bool = False


@dataclass(frozen=True)
class Rendered:
    """A template filled in: the messages to send."""

    system: str
    prompt: str

    def messages(self) -> list[dict[str, str]]:
        first = [{"role": "system", "content": self.system}] if self.system.strip() else []
        return [*first, {"role": "user", "content": self.prompt}]


def _var(name: str, description: str, required: bool = True) -> Variable:
    return Variable(name, description, required)


BUILTINS: dict[str, PromptTemplate] = {
    t.name: t
    for t in (
        PromptTemplate(
            name="generate_code",
            description="Write code for a request, given what the notebook already defines.",
            system=(
                "You write {{ language }} code for a data notebook. Answer with one fenced "
                "code block and nothing else. Reuse the variables that already exist; do not "
                "recreate data that is already loaded."
            ),
            template=(
                "{{ request }}"
                "{% if context %}\n\nWhat the notebook defines:\n{{ context }}{% endif %}"
            ),
            variables=(
                _var("request", "What the code should do."),
                _var("context", "Variables, columns or earlier code worth knowing.", False),
                Variable("language", "The code's language.", False, "Python"),
            ),
            builtin=True,
        ),
        PromptTemplate(
            name="explain_error",
            description="Explain an error in plain words, without rewriting the code.",
            system="You explain programming errors to data scientists, briefly and exactly.",
            template=(
                "Explain what went wrong and why, in three sentences at most.\n\n"
                "Code:\n```python\n{{ code }}\n```\n\nError:\n```\n{{ error }}\n```"
            ),
            variables=(_var("code", "The code that failed."), _var("error", "The traceback.")),
            builtin=True,
        ),
        PromptTemplate(
            name="fix_error",
            description="Explain an error briefly and give the fixed code.",
            system="You fix Python code in data notebooks. Keep the author's intent and names.",
            template=(
                "This code failed. Explain the error in two or three sentences, then give the "
                "fixed code in one ```python block.\n\nCode:\n```python\n{{ code }}\n```\n\n"
                "Error:\n```\n{{ error }}\n```"
                "{% if context %}\n\nWhat the notebook defines:\n{{ context }}{% endif %}"
            ),
            variables=(
                _var("code", "The code that failed."),
                _var("error", "The traceback."),
                _var("context", "Variables, columns or earlier code worth knowing.", False),
            ),
            builtin=True,
        ),
        PromptTemplate(
            name="describe_dataset",
            description="Describe a dataset from its schema, profile and a sample.",
            system="You describe datasets for analysts: what each column holds and what to watch.",
            template=(
                "Describe the dataset {{ name }}: what a row is, what each column means, and "
                "quality problems worth checking.\n\nSchema:\n{{ schema }}"
                "{% if profile %}\n\nProfile:\n{{ profile }}{% endif %}"
                "{% if sample %}\n\nSample rows:\n{{ sample }}{% endif %}"
            ),
            variables=(
                _var("name", "The dataset's name."),
                _var("schema", "Column names and types."),
                _var("profile", "Summary statistics per column.", False),
                _var("sample", "A few rows.", False),
            ),
            builtin=True,
        ),
    )
}


def check(template: PromptTemplate) -> None:
    """Refuse a template that does not parse or uses variables it does not declare."""
    if not NAME.match(template.name):
        raise TemplateError(
            "name must be 1-64 lowercase letters, digits, '_' or '-', starting with a letter",
            "name",
        )
    seen: set[str] = set()
    for i, var in enumerate(template.variables):
        if not VARIABLE.match(var.name) or var.name in RESERVED:
            raise TemplateError(
                f"variable {var.name!r} is not a valid name (a Python identifier, not a "
                "Jinja2 keyword)",
                f"variables.{i}.name",
            )
        if var.name in seen:
            raise TemplateError(f"variable {var.name!r} is declared twice", f"variables.{i}")
        seen.add(var.name)
    from jinja2 import TemplateSyntaxError, meta, nodes

    for part in ("system", "template"):
        source = getattr(template, part)
        try:
            tree = _environment().parse(source)
            used = meta.find_undeclared_variables(tree)
            _environment().from_string(source)  # Python's own limits show when compiling
        except TemplateSyntaxError as exc:  # also unknown filters and tests
            raise TemplateError(f"{part} line {exc.lineno}: {exc.message}", part) from None
        except (RecursionError, SyntaxError, MemoryError):
            raise TemplateError(f"{part}: nested too deeply", part) from None
        if any(n.name.startswith("_") for n in tree.find_all(nodes.Name) if n.ctx != "load"):
            raise TemplateError(f"{part}: names starting with '_' cannot be assigned", part)
        used -= seen
        if used:
            names = ", ".join(sorted(used))
            raise TemplateError(
                f"{part} uses undeclared variable(s) {names}; declare them in 'variables'",
                part,
            )


def render(template: PromptTemplate, values: Mapping[str, Any]) -> Rendered:
    """Fill a template in (sandboxed, budgeted). Raises TemplateError naming the problem."""
    declared = {v.name: v for v in template.variables}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise TemplateError(
            f"template {template.name!r} has no variable(s) {', '.join(unknown)}; it declares "
            f"{', '.join(declared) or 'none'}",
            "variables",
        )
    missing = sorted(n for n, v in declared.items() if v.required and n not in values)
    if missing:
        raise TemplateError(
            f"template {template.name!r} needs variable(s) {', '.join(missing)}", "variables"
        )
    context = {n: values.get(n, v.default) for n, v in declared.items()}
    return Rendered(
        system=_render(template.system, context, "system"),
        prompt=_render(template.template, context, "template"),
    )


def _render(source: str, context: dict[str, Any], part: str) -> str:
    from jinja2 import TemplateError as JinjaError
    from jinja2.exceptions import SecurityError

    token = _BUDGET.set(_Budget())
    try:
        compiled = _environment().from_string(source)
        out: list[str] = []
        size = 0
        for piece in compiled.generate(**context):
            size += len(piece)
            if size > RENDER_MAX:
                raise SecurityError(f"the output is longer than {RENDER_MAX} characters")
            out.append(piece)
    except SecurityError as exc:
        raise TemplateError(f"{part}: not allowed: {exc}", part) from None
    except JinjaError as exc:
        raise TemplateError(f"{part}: {exc.message or exc}", part) from None
    except (ArithmeticError, TypeError, ValueError, LookupError, AttributeError) as exc:
        raise TemplateError(f"{part}: {type(exc).__name__}: {exc}", part) from None
    except RecursionError:
        raise TemplateError(f"{part}: macros call each other too deeply", part) from None
    except (SyntaxError, MemoryError):
        raise TemplateError(f"{part}: too large or nested too deeply", part) from None
    finally:
        _BUDGET.reset(token)
    return "".join(out)


class _Budget:
    """The work one render may still do: loop iterations plus calls."""

    def __init__(self) -> None:
        self.left = LOOP_BUDGET

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            from jinja2.exceptions import SecurityError

            raise SecurityError(f"more than {LOOP_BUDGET} loop iterations and calls")


_BUDGET: ContextVar[_Budget] = ContextVar("prompt_render_budget")


# Values counted against RENDER_MAX: bytes too (``'x'.encode() * n`` built them unchecked).
TEXT = (str, bytes, bytearray)
SIZED = (str, bytes, bytearray, list, tuple, dict)


def _guard(value: Any) -> Any:
    """Refuse an intermediate value bigger than a whole rendering may be."""
    if isinstance(value, SIZED) and len(value) > RENDER_MAX:
        from jinja2.exceptions import SecurityError

        raise SecurityError(f"a value longer than {RENDER_MAX} was built")
    return value


def _check_numbers(args: Iterable[Any]) -> None:
    for value in args:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > NUMBER_MAX:
            from jinja2.exceptions import SecurityError

            raise SecurityError(f"numbers above {NUMBER_MAX} cannot be passed to calls")


def _budgeted_iter(iterable: Any) -> Iterator[Any]:
    budget = _BUDGET.get()
    for item in iterable:
        budget.spend()
        yield item


def _budgeted_concat(*parts: Any) -> str:
    return _guard("".join(str(p) for p in parts))


def _size(value: Any) -> int:
    return len(value) if isinstance(value, SIZED) else 0


def _charge(args: Iterable[Any]) -> None:
    """Spend budget in proportion to the data a call or filter works on (sorting or
    summing a long list costs like looping over it)."""
    budget = _BUDGET.get()
    budget.left -= sum(_size(a) for a in args)
    budget.spend()


def _check_growth(name: str, args: tuple[Any, ...]) -> None:
    """Refuse replace/join calls whose result would exceed RENDER_MAX, before building it."""
    if name == "replace" and len(args) >= 3 and all(isinstance(a, TEXT) for a in args[:3]):
        text, old, new = args[0], args[1], args[2]
        if len(new) > len(old):
            hits = len(text) + 1 if old == "" else text.count(old)
            if len(text) + hits * (len(new) - len(old)) > RENDER_MAX:
                _refuse(f"the result would be longer than {RENDER_MAX} characters")
    if name == "join" and len(args) >= 2 and isinstance(args[1], list | tuple):
        sep = args[0] if isinstance(args[0], str) else ""
        total = sum(len(str(x)) for x in args[1][:RENDER_MAX]) + len(sep) * len(args[1])
        if total > RENDER_MAX:
            _refuse(f"the result would be longer than {RENDER_MAX} characters")


def _refuse_method(obj: Any, name: Any) -> None:
    """Text methods a template may not call: formatting (use {{ }}), and expandtabs,
    whose result grows with the tab size times the tabs before any check could run."""
    if isinstance(obj, str) and name in ("format", "format_map"):
        _refuse("str.format is not available; use {{ }}")
    if isinstance(obj, TEXT) and name == "expandtabs":
        _refuse("expandtabs is not available")


def _refuse(why: str) -> None:
    from jinja2.exceptions import SecurityError

    raise SecurityError(why)


def _guarded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    @wraps(func)  # keeps jinja's pass_context/pass_environment marker
    def run(*args: Any, **kwargs: Any) -> Any:
        values = [a for a in args if not hasattr(a, "environment")]  # not the context
        _charge((*values, *kwargs.values()))
        _check_numbers((*values, *kwargs.values()))
        if name == "join" and values:  # the filter takes (items, separator)
            _check_growth(
                "join", (kwargs.get("d", values[1] if len(values) > 1 else ""), values[0])
            )
        else:
            _check_growth(name, tuple(values))
        return _guard(func(*args, **kwargs))

    return run


@cache
def _environment() -> Any:
    """The shared sandboxed environment, with every loop, call, concatenation and filter
    drawing on the current render's budget."""
    from jinja2 import StrictUndefined, nodes
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from jinja2.visitor import NodeTransformer

    class Budgeted(NodeTransformer):
        def visit_For(self, node: Any) -> Any:
            node = self.generic_visit(node)
            node.iter = nodes.Call(nodes.Name("_iter", "load"), [node.iter], [], None, None)
            return node

        def visit_Concat(self, node: Any) -> Any:
            node = self.generic_visit(node)
            return nodes.Call(nodes.Name("_concat", "load"), node.nodes, [], None, None)

    class Sandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"+", "*", "**", "%"})

        def _parse(self, source: str, name: str | None, filename: str | None) -> Any:
            tree = Budgeted().visit(super()._parse(source, name, filename))
            tree.set_environment(self)
            return tree

        def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
            if op == "%" and isinstance(left, TEXT):
                raise SecurityError("'%' string formatting is not available; use {{ }}")
            if op != "+":
                _check_numbers((left, right))
            if op == "*":  # a sequence times a number: refuse before building it
                seq, times = (left, right) if _size(left) else (right, left)
                if isinstance(times, int) and _size(seq) * max(times, 0) > RENDER_MAX:
                    raise SecurityError(f"a value longer than {RENDER_MAX} would be built")
            if op == "**" and isinstance(right, int) and abs(right) > 64:
                raise SecurityError("exponents above 64 are not allowed")
            ops = {"+": operator.add, "*": operator.mul, "**": operator.pow, "%": operator.mod}
            return _guard(ops[op](left, right))

        def getattr(self, obj: Any, attribute: str) -> Any:
            _refuse_method(obj, attribute)
            return super().getattr(obj, attribute)

        def getitem(self, obj: Any, argument: Any) -> Any:
            _refuse_method(obj, argument)
            return super().getitem(obj, argument)

        def call(self, context: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
            bound = getattr(obj, "__self__", None)
            _charge((bound, *args, *kwargs.values()))
            _check_numbers((*args, *kwargs.values()))
            if isinstance(bound, TEXT):
                _check_growth(getattr(obj, "__name__", ""), (bound, *args))
            return _guard(super().call(context, obj, *args, **kwargs))

    env = Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    env.filters = {n: _guarded_filter(n, env.filters[n]) for n in SAFE_FILTERS}
    env.globals = {
        "range": env.globals["range"],
        "dict": env.globals["dict"],
        "_iter": _budgeted_iter,
        "_concat": _budgeted_concat,
    }
    return env
