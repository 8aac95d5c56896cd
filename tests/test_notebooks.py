"""Notebook import and export through the REST API, with outputs and artifacts."""

from __future__ import annotations

import base64
import json

import nbformat
import pytest
from conftest import make_project

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@pytest.fixture
def extension_config():
    return {"default_timeout": 60}


def sample_notebook() -> dict:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Sales report\nSome text."),
        nbformat.v4.new_code_cell(
            "x = 41\nprint('hello')\nx + 1",
            execution_count=1,
            outputs=[
                nbformat.v4.new_output("stream", name="stdout", text="hello\n"),
                nbformat.v4.new_output(
                    "execute_result", data={"text/plain": "42"}, execution_count=1
                ),
            ],
        ),
        nbformat.v4.new_code_cell(
            "show_plot()",
            execution_count=2,
            outputs=[
                nbformat.v4.new_output(
                    "display_data",
                    data={
                        "image/png": base64.b64encode(PNG).decode(),
                        "text/plain": "<Figure>",
                    },
                )
            ],
        ),
        nbformat.v4.new_code_cell(
            "1 / 0",
            execution_count=3,
            outputs=[
                nbformat.v4.new_output(
                    "error", ename="ZeroDivisionError", evalue="division by zero", traceback=["tb"]
                )
            ],
        ),
        nbformat.v4.new_code_cell("never_ran = True"),
        nbformat.v4.new_raw_cell("raw text"),
    ]
    return json.loads(nbformat.writes(nb))


async def import_nb(api, notebook, **extra):
    r = await api("POST", "projects/import", json_body={"notebook": notebook, **extra})
    assert r.status == 201, r.body
    return r.body


async def project_blocks(api, pid):
    r = await api("GET", f"projects/{pid}/blocks", params={"limit": 500})
    assert r.status == 200, r.body
    return r.body["items"]


async def test_import_keeps_cells_outputs_and_artifacts(api, jp_fetch):
    project = await import_nb(api, sample_notebook())
    assert project["name"] == "Sales report"  # from the first heading
    assert project["role"] == "owner"
    pid = project["id"]
    blocks = await project_blocks(api, pid)
    assert [b["kind"] for b in blocks] == [
        "markdown",
        "code",
        "code",
        "code",
        "code",
        "markdown",
    ]
    assert blocks[1]["source"] == "x = 41\nprint('hello')\nx + 1"
    assert blocks[5]["source"] == "raw text"
    assert blocks[0]["last_run_id"] is None
    assert blocks[4]["last_run_id"] is None  # never ran in the notebook

    first = (await api("GET", f"projects/{pid}/runs/{blocks[1]['last_run_id']}")).body
    assert first["status"] == "succeeded"
    assert first["execution_count"] == 1
    assert first["message"] == "imported from the notebook"
    assert [o["output_type"] for o in first["outputs"]] == ["stream", "execute_result"]

    plot = (await api("GET", f"projects/{pid}/runs/{blocks[2]['last_run_id']}")).body
    (display,) = plot["outputs"]
    assert "image/png" not in display["data"]  # moved to an artifact
    ref = display["artifacts"]["image/png"]
    assert ref["size"] == len(PNG)
    r = await api("GET", f"projects/{pid}/artifacts/{ref['id']}")
    assert r.status == 200
    assert r.raw == PNG

    failed = (await api("GET", f"projects/{pid}/runs/{blocks[3]['last_run_id']}")).body
    assert failed["status"] == "failed"
    assert failed["error"]["ename"] == "ZeroDivisionError"

    # Imported outputs are not results the kernel holds: nothing is fresh.
    dag = (await api("GET", f"projects/{pid}/dag")).body
    assert {n["state"] for n in dag["nodes"]} <= {"stale", "failed", "never-run"}


async def test_export_round_trip_is_valid_and_keeps_outputs(api):
    original = sample_notebook()
    pid = (await import_nb(api, original, name="round trip"))["id"]
    r = await api("GET", f"projects/{pid}/notebook")
    assert r.status == 200
    assert r.headers["Content-Type"] == "application/x-ipynb+json"
    assert 'filename="round-trip.ipynb"' in r.headers["Content-Disposition"]
    exported = nbformat.reads(r.raw.decode(), as_version=4)
    nbformat.validate(exported)
    assert [c.cell_type for c in exported.cells] == [
        "markdown",
        "code",
        "code",
        "code",
        "code",
        "markdown",
    ]
    code = [c for c in exported.cells if c.cell_type == "code"]
    originals = [c for c in nbformat.reads(json.dumps(original), 4).cells if c.cell_type == "code"]
    for got, want in zip(code, originals, strict=True):
        assert got.source == want.source
        assert got.execution_count == want.execution_count
        assert got.outputs == want.outputs  # the image came back inline
    assert exported.metadata.kernelspec.name == "ai-notebook-python"


async def test_export_after_running_blocks_in_the_kernel(api):
    pid = await make_project(api, bob="viewer")
    r = await api(
        "POST",
        f"projects/{pid}/blocks/bulk",
        json_body={"blocks": [{"source": "v = 6 * 7"}, {"source": "print(v)"}]},
    )
    assert r.status == 201
    r = await api(
        "POST", f"projects/{pid}/runs", json_body={"target": "all"}, params={"wait": "true"}
    )
    assert r.body["status"] == "succeeded", r.body
    r = await api("GET", f"projects/{pid}/notebook", user="bob")  # viewers export
    assert r.status == 200
    exported = nbformat.reads(r.raw.decode(), as_version=4)
    assert exported.cells[1].outputs[0].text == "42\n"
    assert exported.cells[1].execution_count == 2


async def test_bad_notebooks_are_refused_and_create_nothing(api):
    bad_source = sample_notebook()
    bad_source["cells"][1]["source"] = "x = '\x00'"
    cases = [
        ({"notebook": {"cells": "nope"}}, "notebook"),
        ({"notebook": {"nbformat": 4, "nbformat_minor": 5, "metadata": {}}}, "notebook"),
        ({"notebook": "not an object"}, "notebook"),
        ({}, "notebook"),
        ({"notebook": sample_notebook(), "name": ""}, "name"),
        ({"notebook": sample_notebook(), "name": "x" * 201}, "name"),
        ({"notebook": sample_notebook(), "extra": 1}, "extra"),
        ({"notebook": bad_source}, "NUL"),
    ]
    for body, fragment in cases:
        r = await api("POST", "projects/import", json_body=body)
        assert r.status == 400, (body, r.body)
        assert fragment in json.dumps(r.error), (fragment, r.error)
    r = await api("GET", "projects")
    assert r.body["total"] == 0


async def test_export_of_a_project_you_cannot_see_is_404(api):
    pid = await make_project(api)
    r = await api("GET", f"projects/{pid}/notebook", user="carol")
    assert r.status == 404
