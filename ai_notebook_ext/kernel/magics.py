"""``%%ai`` and ``%ai``: ask a model from any notebook, streaming the answer into the cell.

    %%ai openai:gpt-4o-mini -f code
    Write a function that parses {filename}

``{name}``, ``{In[n]}``, ``{Out[n]}`` and ``{Err[n]}`` are replaced once (what they insert is
not looked at again). Formats: text (default, streamed as it arrives), markdown, html,
json, math, code (streamed, then put into the next cell). Line commands: ``%ai fix`` (or
``%ai error``), ``%ai list [provider]``, ``%ai alias NAME MODEL``, ``%ai dealias NAME``,
``%ai help``. Works in plain IPython too: providers read the usual environment variables
(OPENAI_API_KEY, OPENAI_BASE_URL, GEMINI_API_KEY, OLLAMA_HOST).
"""

from __future__ import annotations

import asyncio
import queue
import re
import shlex
import sys
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from traitlets import Dict, Unicode

FORMATS = ("text", "markdown", "html", "json", "math", "code")
PLACEHOLDER = re.compile(r"\{(In|Out|Err)\[(-?\d+)\]\}|\{([A-Za-z_]\w*)\}")
HELP = __doc__ or ""


def failed(message: str) -> UsageError:
    """A ``%%ai`` call that could not be answered (no key, provider down, bad arguments).

    Raised, not printed: the cell's execution ends with an error, so a block run of it
    fails; IPython shows a UsageError as its message, without a traceback."""
    return UsageError(message)


def interpolate(template: str, namespace: dict[str, Any], errors: dict[int, str]) -> str:
    """Replace the placeholders once; unknown ones stay as they are."""

    def value(match: re.Match[str]) -> str:
        kind, index, name = match.group(1), match.group(2), match.group(3)
        try:
            if name is not None:
                return str(namespace[name]) if name in namespace else match.group(0)
            number = int(index)
            if kind == "Err":
                return errors.get(number, match.group(0))
            source = namespace.get(kind)
            return str(source[number]) if source is not None else match.group(0)
        except (KeyError, IndexError, TypeError):
            return match.group(0)

    return PLACEHOLDER.sub(value, template)


def code_of(answer: str) -> str:
    """The code in an answer: its first fenced block, else all of it."""
    fence = re.search(r"```[\w+-]*\n(.*?)```", answer, re.DOTALL)
    return (fence.group(1) if fence else answer).strip("\n")


def stream_in_thread(make: Callable[[], AsyncIterator[Any]], on_chunk: Callable[[Any], None]):
    """Run an async stream on a loop of its own thread (a kernel's loop may be running
    here) and hand each chunk to ``on_chunk`` on this thread, as it arrives."""
    chunks: queue.Queue[tuple[str, Any]] = queue.Queue()

    def work() -> None:
        async def consume() -> None:
            async for chunk in make():
                chunks.put(("chunk", chunk))

        try:
            asyncio.run(consume())
            chunks.put(("done", None))
        except BaseException as exc:  # handed to the caller's thread
            chunks.put(("error", exc))

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    while True:
        kind, item = chunks.get()
        if kind == "chunk":
            on_chunk(item)
        elif kind == "error":
            raise item
        else:
            return


@magics_class
class AIMagics(Magics):
    """The magics; configure with ``%config AIMagics.default_model = "ollama:llama3"``."""

    default_model = Unicode(
        "", help="Model used when %%ai names none (provider:model or an alias)."
    ).tag(config=True)
    aliases = Dict(Unicode(), help="Short names for models, e.g. {'fast': 'ollama:llama3'}.").tag(
        config=True
    )
    templates = Dict(
        Unicode(),
        help="Replace a built-in prompt's user message (Jinja2 over the same variables), "
        "e.g. {'fix_error': 'Fix this:\\n{{ code }}\\n{{ error }}'}.",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        super().__init__(shell, **kwargs)
        self.errors: dict[int, str] = {}
        self.last_model: str | None = None  # what %ai fix uses when given none
        self._router: Any = None
        if shell is not None:
            shell.events.register("post_run_cell", self._remember_error)

    def _remember_error(self, result: Any) -> None:
        error = result.error_in_exec or result.error_before_exec
        count = result.execution_count
        if error is not None and count is not None:
            self.errors[count] = f"{type(error).__name__}: {error}"

    def router(self) -> Any:
        from ..ai.providers import default_providers
        from ..ai.router import Router

        if self._router is None:
            self._router = Router(default_providers())
        self._router.aliases = dict(self.aliases)
        self._router.default_model = self.default_model
        return self._router

    # --- the magic ---------------------------------------------------------------------

    @line_cell_magic
    def ai(self, line: str, cell: str | None = None) -> None:
        """Ask a model (cell magic) or run a command (line magic); %ai help for help."""
        if cell is None:
            self._command(line.strip())
            return
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise failed(f"%%ai: {exc}") from None
        model, fmt = None, "text"
        while words:
            word = words.pop(0)
            if word in ("-f", "--format") and words:
                fmt = words.pop(0)
            elif model is None and not word.startswith("-"):
                model = word
            else:
                raise failed(f"%%ai: unexpected {word!r}; usage: %%ai provider:model [-f format]")
        if fmt not in FORMATS:
            raise failed(f"%%ai: format must be one of {', '.join(FORMATS)}")
        prompt = interpolate(cell.strip(), self.shell.user_ns, self.errors)
        if model is not None:
            self.last_model = model
        self._ask(model, [{"role": "user", "content": prompt}], fmt)

    def _ask(self, model: str | None, messages: list[dict[str, str]], fmt: str) -> str:
        from ..ai.errors import ProviderError
        from ..ai.types import TextDelta

        router = self.router()
        parts: list[str] = []
        handle = None
        if fmt in ("markdown", "html", "json", "math"):
            from IPython.display import display

            handle = display({"text/plain": ""}, raw=True, display_id=True)

        def show(chunk: Any) -> None:
            if not isinstance(chunk, TextDelta):
                return
            parts.append(chunk.text)
            if handle is None:
                sys.stdout.write(chunk.text)
                sys.stdout.flush()
            else:
                handle.update(_bundle("".join(parts), fmt), raw=True)

        user = getattr(self.shell, "user", "") or "local"
        try:
            stream_in_thread(lambda: router.chat(user, model, messages, stream=True), show)
        except ProviderError as exc:
            hint = ""
            if exc.kind == "not_configured" and exc.provider == "router":
                hint = " (name one, or %config AIMagics.default_model = 'provider:model')"
            if parts and handle is None:
                sys.stdout.write("\n")
            raise failed(f"%%ai: {exc.message}{hint}") from None
        answer = "".join(parts)
        if handle is None and answer and not answer.endswith("\n"):
            sys.stdout.write("\n")
        if fmt == "code" and answer:
            self.shell.set_next_input(code_of(answer), replace=False)
        return answer

    # --- line commands -----------------------------------------------------------------

    def _command(self, line: str) -> None:
        words = line.split()
        command = words[0] if words else "help"
        if command == "help":
            print(HELP)
        elif command in ("fix", "error"):
            self._fix(words[1] if len(words) > 1 else None)
        elif command == "list":
            self._list(words[1] if len(words) > 1 else None)
        elif command == "alias" and len(words) == 3:
            self.aliases = {**self.aliases, words[1]: words[2]}
            print(f"alias {words[1]} -> {words[2]}")
        elif command == "dealias" and len(words) == 2:
            if words[1] not in self.aliases:
                print(f"%ai: no alias {words[1]!r}", file=sys.stderr)
                return
            self.aliases = {k: v for k, v in self.aliases.items() if k != words[1]}
            print(f"removed alias {words[1]}")
        else:
            print(f"%ai: unknown command {line!r}; %ai help lists them", file=sys.stderr)

    def _fix(self, model: str | None) -> None:
        if not self.errors:
            print("%ai fix: no error to fix yet", file=sys.stderr)
            return
        count = max(self.errors)
        history = self.shell.user_ns.get("In", [])
        code = history[count] if 0 <= count < len(history) else ""
        error = self.errors[count]
        if sys.last_traceback is not None and getattr(sys, "last_value", None) is not None:
            import traceback

            error = "".join(traceback.format_exception(sys.last_value)).strip()
        messages = self._prompt("fix_error", code=code, error=error)
        if model is not None:
            self.last_model = model
        if messages is not None:
            self._ask(self.last_model, messages, "markdown")

    def _prompt(self, name: str, **values: str) -> list[dict[str, str]] | None:
        """A built-in prompt (or its override from ``AIMagics.templates``) filled in."""
        from dataclasses import replace

        from ..ai.prompts import BUILTINS, TemplateError, check, render

        template = BUILTINS[name]
        try:
            if name in self.templates:
                template = replace(template, template=self.templates[name], builtin=False)
                check(template)
            return render(template, values).messages()
        except TemplateError as exc:
            print(f"%ai: AIMagics.templates[{name!r}]: {exc.message}", file=sys.stderr)
            return None

    def _list(self, only: str | None) -> None:
        router = self.router()
        for name, provider in sorted(router.providers.items()):
            if only and name != only:
                continue
            missing = provider.configured()
            print(f"{name}: {'configured' if not missing else 'not configured: ' + missing}")
            if missing:
                continue
            found: list[Any] = []
            try:
                stream_in_thread(lambda p=provider: _models(p), found.append)
                print("  models: " + (", ".join(found) if found else "(none)"))
            except Exception as exc:
                print(f"  models: unavailable ({getattr(exc, 'message', exc)})")
        for alias, target in sorted(self.aliases.items()):
            print(f"alias {alias} -> {target}")


async def _models(provider: Any) -> AsyncIterator[str]:
    for name in await provider.list_models(request_timeout=5.0):
        yield name


def _bundle(text: str, fmt: str) -> dict[str, Any]:
    if fmt == "markdown":
        return {"text/markdown": text, "text/plain": text}
    if fmt == "html":
        return {"text/html": text, "text/plain": text}
    if fmt == "math":
        return {"text/latex": f"$${text}$$", "text/plain": text}
    return {"application/json": _json_or_text(text), "text/plain": text}


def _json_or_text(text: str) -> Any:
    import json

    try:
        return json.loads(code_of(text))
    except ValueError:
        return {"text": text}
