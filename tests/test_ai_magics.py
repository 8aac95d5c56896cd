"""%%ai and %ai in a real IPython shell and in a real kernel, against a scripted server."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from ai_server import ScriptedServer, Step

from ai_notebook_ext.kernel.magics import interpolate

KERNELSPECS = Path(__file__).resolve().parent.parent / "ai_notebook_ext" / "kernelspec"


def sse_answer(*pieces):
    events = [
        {
            "id": "c",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}],
        }
        for p in pieces
    ]
    return Step(sse=[*events, "[DONE]"])


def models(*names):
    data = [{"id": n, "object": "model", "created": 1, "owned_by": "x"} for n in names]
    return Step(body={"object": "list", "data": data})


@pytest.fixture
def server(monkeypatch):
    with ScriptedServer() as running:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-magic")
        monkeypatch.setenv("OPENAI_BASE_URL", running.url + "/v1")
        yield running


@pytest.fixture
def shell():
    from IPython.core.interactiveshell import InteractiveShell

    ip = InteractiveShell()
    ip.extension_manager.load_extension("ai_notebook_ext")
    yield ip
    ip.cleanup()


def prompt_sent(server, index=-1):
    return server.requests[index]["body"]["messages"][-1]["content"]


def test_placeholders_are_replaced_exactly_once():
    namespace = {"x": "{y}", "y": "never", "In": ["", "a = 1"], "Out": {1: 1}}
    text = interpolate(
        "x={x} In={In[1]} Out={Out[1]} Err={Err[3]} {nope} {'k': 1}",
        namespace,
        {3: "ValueError: bad"},
    )
    assert text == "x={y} In=a = 1 Out=1 Err=ValueError: bad {nope} {'k': 1}"


def test_cell_magic_streams_the_answer_in_plain_ipython(server, shell, capsys):
    server.script(sse_answer("The answer ", "is 42."))
    shell.run_cell("x = 41", store_history=True)
    shell.run_cell("%%ai openai:gpt-test\nWhat is {x} + 1? Code: {In[1]}", store_history=True)
    out = capsys.readouterr().out
    assert "The answer is 42." in out
    assert prompt_sent(server) == "What is 41 + 1? Code: x = 41"
    body = server.requests[-1]["body"]
    assert body["model"] == "gpt-test"
    assert body["stream"] is True


def test_ollama_and_gemini_stream_into_the_cell(server, shell, capsys, monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    monkeypatch.setenv("GEMINI_API_KEY", "g-magic")
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", server.url)
    line = {"model": "llama3", "created_at": "2026-11-27T00:00:00Z", "done": False}
    server.script(
        Step(
            ndjson=[
                {**line, "message": {"role": "assistant", "content": "From "}},
                {**line, "message": {"role": "assistant", "content": "ollama."}},
                {**line, "message": {"role": "assistant", "content": ""}, "done": True},
            ]
        )
    )
    shell.run_cell("%%ai ollama:llama3\nhi")
    assert "From ollama." in capsys.readouterr().out
    assert server.requests[-1]["path"] == "/api/chat"

    def part(text):
        return {"candidates": [{"content": {"role": "model", "parts": [{"text": text}]}}]}

    server.script(Step(sse=[part("From "), part("gemini.")]))
    shell.run_cell("%%ai gemini:gemini-test\nhi")
    assert "From gemini." in capsys.readouterr().out
    assert "streamGenerateContent" in server.requests[-1]["path"]


def test_fix_uses_the_builtin_prompt_or_its_configured_override(server, shell, capsys):
    shell.run_cell("%ai fix")
    assert "no error to fix yet" in capsys.readouterr().err
    shell.run_cell("1/0", store_history=True)
    server.script(sse_answer("Do not divide by zero."))
    shell.run_cell("%ai fix openai:gpt-test")
    sent = server.requests[-1]["body"]["messages"]
    assert sent[0]["role"] == "system"
    assert "ZeroDivisionError" in sent[-1]["content"]
    assert "1/0" in sent[-1]["content"]
    shell.run_cell("%config AIMagics.templates = {'fix_error': 'FIX {{ code }} // {{ error }}'}")
    server.script(sse_answer("ok"))
    shell.run_cell("%ai fix")
    assert prompt_sent(server).startswith("FIX 1/0 // ")
    shell.run_cell("%config AIMagics.templates = {'fix_error': '{{ nope }}'}")
    count = len(server.requests)
    shell.run_cell("%ai fix")
    assert "undeclared variable(s) nope" in capsys.readouterr().err
    assert len(server.requests) == count  # nothing was sent


def test_line_commands(server, shell, capsys):
    shell.run_cell("%ai")
    assert "%%ai openai:gpt-4o-mini" in capsys.readouterr().out
    shell.run_cell("%ai alias fast openai:gpt-fast")
    server.script(sse_answer("hi"))
    shell.run_cell("%%ai fast\nhello")
    assert server.requests[-1]["body"]["model"] == "gpt-fast"
    server.script(models("gpt-b", "gpt-a"))
    shell.run_cell("%ai list openai")
    out = capsys.readouterr().out
    assert "openai: configured" in out
    assert "models: gpt-a, gpt-b" in out
    assert "alias fast -> openai:gpt-fast" in out
    shell.run_cell("%ai dealias fast")
    shell.run_cell("%ai dealias fast")
    assert "no alias 'fast'" in capsys.readouterr().err
    shell.run_cell("%ai frobnicate")
    assert "unknown command" in capsys.readouterr().err


def test_no_provider_configured_says_what_to_set(monkeypatch, shell, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    result = shell.run_cell("%%ai openai:gpt-test\nhello")
    assert not result.success  # the cell fails: a block run of it is a failed run
    assert "set OPENAI_API_KEY" in capsys.readouterr().err
    result = shell.run_cell("%%ai\nhello")
    assert not result.success
    assert "no model given and no default model is set" in capsys.readouterr().err
    result = shell.run_cell("%%ai openai:gpt-test -f nonsense\nhello")
    assert not result.success
    assert "format must be one of" in capsys.readouterr().err


def test_a_provider_failure_fails_the_cell(server, shell, capsys):
    server.script(Step(401, {"error": {"message": "bad key", "type": "invalid_request_error"}}))
    result = shell.run_cell("%%ai openai:gpt-test\nhello")
    assert not result.success
    assert "API key was refused" in capsys.readouterr().err


def test_magics_in_a_real_kernel_stream_code_and_fix_errors(server):
    from jupyter_client.kernelspec import KernelSpecManager
    from jupyter_client.manager import KernelManager

    specs = KernelSpecManager()
    specs.kernel_dirs.append(str(KERNELSPECS))
    env = {**os.environ, "OPENAI_API_KEY": "sk-kernel", "OPENAI_BASE_URL": server.url + "/v1"}
    km = KernelManager(kernel_name="ai-notebook-python", kernel_spec_manager=specs)
    km.start_kernel(env=env)
    client = km.client()
    client.start_channels()
    try:
        client.wait_for_ready(timeout=60)

        def run(code):
            msg_id = client.execute(code)
            outputs = []
            while True:
                msg = client.get_iopub_msg(timeout=30)
                if msg["parent_header"].get("msg_id") != msg_id:
                    continue
                kind = msg["msg_type"]
                if kind == "status" and msg["content"]["execution_state"] == "idle":
                    break
                if kind in ("stream", "display_data", "update_display_data", "error"):
                    outputs.append((kind, msg["content"]))
            reply = client.get_shell_msg(timeout=30)
            while reply["parent_header"].get("msg_id") != msg_id:
                reply = client.get_shell_msg(timeout=30)
            return outputs, reply["content"]

        server.script(sse_answer("Here:\n```python\n", "def add(a, b):\n", "    return a + b\n```"))
        outputs, reply = run("%%ai openai:gpt-test -f code\nWrite add")
        streams = [c["text"] for k, c in outputs if k == "stream"]
        assert len(streams) >= 2, outputs  # it arrived in pieces
        assert "return a + b" in "".join(streams)
        payloads = [p for p in reply["payload"] if p["source"] == "set_next_input"]
        assert payloads[0]["text"] == "def add(a, b):\n    return a + b"

        server.script(Step(401, {"error": {"message": "bad key"}}))
        outputs, reply = run("%%ai openai:gpt-test\nhello")
        assert reply["status"] == "error", outputs  # a failed %%ai fails the run
        assert any("API key was refused" in json.dumps(c) for _, c in outputs), outputs

        outputs, reply = run("values = [1, 2]\nvalues[5]")
        assert reply["status"] == "error"
        server.script(sse_answer("Index 5 is out of range; ", "use values[1]."))
        outputs, reply = run("%ai fix")
        assert len(server.requests) == 3, outputs
        sent = prompt_sent(server)
        assert "values[5]" in sent
        assert "IndexError" in sent
        shown = [c for k, c in outputs if k in ("display_data", "update_display_data")]
        assert "use values[1]." in json.dumps(shown[-1]["data"])
    finally:
        client.stop_channels()
        km.shutdown_kernel(now=True)


def test_the_extension_loads_in_plain_ipython_without_the_server(tmp_path):
    code = (
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "ip = InteractiveShell()\n"
        "ip.extension_manager.load_extension('ai_notebook_ext')\n"
        "import sys\n"
        "assert 'ai' in ip.magics_manager.magics['cell']\n"
        "assert 'jupyter_server' not in sys.modules, 'server code was imported'\n"
    )
    import subprocess

    subprocess.run([sys.executable, "-c", code], check=True, timeout=60, cwd=tmp_path)
