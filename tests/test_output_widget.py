"""ipywidgets' Output widget through our runs (execution/widgets.py): outputs produced
inside ``with out:`` belong to the widget, not the run; the kernel's widget holds them
(synced back as a frontend does); the notebook export carries the widget state. Real
kernel, REST API. nbclient's own "Output" notebook is compared in
test_nbclient_notebooks.py."""

from __future__ import annotations

import json

import nbformat
from conftest import make_project

STATE = "application/vnd.jupyter.widget-state+json"


async def run(api, pid, source):
    r = await api("POST", f"projects/{pid}/blocks", json_body={"source": source})
    assert r.status == 201, r.body
    r = await api("POST", f"projects/{pid}/blocks/{r.body['id']}/execute", params={"wait": "true"})
    assert r.status == 200, r.body
    assert r.body["status"] == "succeeded", r.body
    return r.body["outputs"]


async def test_output_widget_captures_and_the_kernel_knows(api):
    pid = await make_project(api)
    shown = await run(api, pid, "import ipywidgets as w\nout = w.Output()\nout")
    model_id = shown[0]["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
    outputs = await run(api, pid, "print('outside')\nwith out:\n    print('inside')\n    1/0")
    assert outputs == [{"output_type": "stream", "name": "stdout", "text": "outside\n"}]
    # the kernel's widget got its outputs back from us, as from a frontend
    text = await run(api, pid, "import json\nprint(json.dumps(list(out.outputs)))")
    held = json.loads(text[0]["text"])
    assert [o["output_type"] for o in held] == ["stream", "error"]
    assert held[0]["text"] == "inside\n"
    assert held[1]["ename"] == "ZeroDivisionError"
    # clear_output inside the widget clears the widget only
    outputs = await run(
        api,
        pid,
        "from IPython.display import clear_output\n"
        "print('kept')\nwith out:\n    clear_output()\n    print('new')",
    )
    assert outputs == [{"output_type": "stream", "name": "stdout", "text": "kept\n"}]

    r = await api("GET", f"projects/{pid}/notebook")
    assert r.status == 200, r.body
    notebook = nbformat.reads(r.raw.decode(), as_version=4)
    nbformat.validate(notebook)
    model = notebook.metadata["widgets"][STATE]["state"][model_id]
    assert model["model_name"] == "OutputModel"
    assert model["state"]["outputs"] == [
        {"output_type": "stream", "name": "stdout", "text": "new\n"}
    ]
