"""nbclient's own test notebooks, run block by block through our REST API, give the
outputs nbclient gives when it executes them.

The notebooks come from nbclient's sdist (the installed version, fetched once with
``pip download`` into the pytest cache). Each is imported as a project (``POST
projects/import``); its code blocks run one after the other (``POST .../execute``) and
the project is exported (``GET .../notebook``: the blocks' last runs, artifacts inline).
The reference is nbclient itself, executing the same notebook in this process with a
standard ``python3`` kernel, not the outputs stored in the files.

Normalizations, applied to both sides (``normalized``):

- execution counts are dropped: our project kernels count silent setup code and every
  run, nbclient a fresh kernel's cells;
- consecutive stream outputs of one name are joined: nbclient keeps one output per
  stream message, we join them as they arrive (as JupyterLab does); the text is the same;
- tracebacks lose ANSI colours, and ``Cell In[N]`` and the kernel's temporary cell file
  names lose their numbers (they name a kernel's execution, not the code);
- memory addresses (``0x7f...``) and ipywidgets model ids (random) are replaced;
- in "Sleep1s", the printed timestamps are replaced (they are the time of the run).

"Output" uses ipywidgets' Output widget: outputs produced inside ``with out:`` belong to
the widget, not the cell (execution/widgets.py). The outputs each Output widget holds,
from the exported notebook's widget state, are compared too.

Input: "Output" has a ``kernelspec`` without its required ``name``; our import validates
notebooks and refuses it, so that metadata is dropped before the import (the project's
kernel runs the blocks whatever the notebook names).

Cells nbclient does not execute (empty ones, those tagged ``skip-execution``) are not run
here either; both sides keep the notebook's stored outputs for them.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import DeadKernelError

VERSION = importlib.metadata.version("nbclient")

# Every notebook of nbclient 0.11's tests/files; test_the_list_is_complete keeps it so.
NOTEBOOKS = [
    "Autokill.ipynb",
    "Check History in Memory.ipynb",
    "Clear Output.ipynb",
    "Disable Stdin.ipynb",
    "Empty Cell.ipynb",
    "Error.ipynb",
    "Factorials.ipynb",
    "HelloWorld.ipynb",
    "Inline Image.ipynb",
    "Interrupt.ipynb",
    "JupyterWidgets.ipynb",
    "Other Comms.ipynb",
    "Output.ipynb",
    "Parallel Execute A.ipynb",
    "Parallel Execute B.ipynb",
    "SVG.ipynb",
    "Skip Exceptions with Cell Tags.ipynb",
    "Skip Exceptions.ipynb",
    "Skip Execution with Cell Tag.ipynb",
    "Sleep1s.ipynb",
    "Unicode.ipynb",
    "UnicodePy3.ipynb",
    "update-display-id.ipynb",
]

# Notebooks run at the same time (each waits for a file the other writes), as nbclient's
# test_parallel_notebooks does: two projects, two kernels.
TOGETHER = {"Parallel Execute A.ipynb": "Parallel Execute B.ipynb"}
GROUPS = [
    (name, *([TOGETHER[name]] if name in TOGETHER else []))
    for name in NOTEBOOKS
    if name not in TOGETHER.values()
]
TIMEOUTS = {"Interrupt.ipynb": 1}  # nbclient's test interrupts its endless loop after 1 s


@pytest.fixture
def db_url(tmp_path: Any) -> str:
    """SQLite only: this compares outputs; the backends' storage is tested elsewhere."""
    return f"sqlite:///{tmp_path / 'ainb.db'}"


@pytest.fixture
def extension_config() -> dict[str, Any]:
    return {"default_timeout": 60}


@pytest.fixture(scope="session")
def nbclient_files(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """tests/files of the installed nbclient's sdist, downloaded once per pytest cache
    (once per session when the cache is off)."""
    name = f"nbclient-{VERSION}-sdist"
    cache_plugin = getattr(request.config, "cache", None)
    cache = Path(cache_plugin.mkdir(name) if cache_plugin else tmp_path_factory.mktemp(name))
    files = cache / "files"
    if not (files / "HelloWorld.ipynb").exists():
        command = [sys.executable, "-m", "pip", "download", f"nbclient=={VERSION}"]
        command += ["--no-binary", ":all:", "--no-deps", "--quiet", "-d", str(cache)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode:  # PyPI must be reachable the first time (then it is cached)
            pytest.fail(f"pip download nbclient=={VERSION} failed:\n{done.stderr[-2000:]}")
        (sdist,) = cache.glob("nbclient-*.tar.gz")
        tmp = cache / "files.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        with tarfile.open(sdist) as tar:
            prefix = f"nbclient-{VERSION}/tests/files/"
            for member in tar.getmembers():
                if member.name.startswith(prefix) and member.isfile():
                    member.name = member.name[len(prefix) :]
                    if "/" not in member.name:
                        tar.extract(member, tmp, filter="data")
        shutil.rmtree(files, ignore_errors=True)
        tmp.rename(files)
    return files


def test_the_list_is_complete(nbclient_files: Path) -> None:
    """A new nbclient with new notebooks makes this fail until they are listed."""
    assert sorted(p.name for p in nbclient_files.glob("*.ipynb")) == sorted(NOTEBOOKS)


def executed_by_nbclient(cell: Any) -> bool:
    """nbclient's NotebookClient.async_execute_cell runs these cells only."""
    tags = cell.get("metadata", {}).get("tags", [])
    return cell.cell_type == "code" and bool(cell.source.strip()) and "skip-execution" not in tags


ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
CELL_IN = re.compile(r"Cell In\[\d+\]")
CELL_FILE = re.compile(r"/tmp/ipykernel_\d+/\d+\.py")
ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z")
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _clean(text: str) -> str:
    text = CELL_FILE.sub("<cell file>", CELL_IN.sub("Cell In[N]", ANSI.sub("", text)))
    return TIMESTAMP.sub("<time>", ADDRESS.sub("0x<address>", text))


def normalized(outputs: list[Any]) -> list[dict[str, Any]]:
    """Outputs compared: see the module's docstring for each step."""
    result: list[dict[str, Any]] = []
    for raw in outputs:
        out = dict(raw)
        out.pop("execution_count", None)
        if out["output_type"] == "stream":
            out["text"] = _clean(_text(out["text"]))
            last = result[-1] if result else None
            if last and last["output_type"] == "stream" and last["name"] == out["name"]:
                last["text"] += out["text"]
                continue
        elif out["output_type"] == "error":
            out["traceback"] = [_clean(line) for line in out["traceback"]]
            out["evalue"] = _clean(out["evalue"])
        else:
            data = {}
            for mime, value in out.get("data", {}).items():
                if mime == WIDGET_VIEW:
                    value = {**value, "model_id": "<model>"}
                elif isinstance(value, (str, list)):
                    value = _clean(_text(value))
                data[mime] = value
            out["data"] = data
            out["metadata"] = dict(out.get("metadata", {}))
        result.append(out)
    return result


def output_widgets(notebook: Any) -> list[list[dict[str, Any]]]:
    """The outputs each ipywidgets Output widget captured, from the widget state nbclient
    (and our export) write into the notebook's metadata: in the order the cells display
    the widgets (model ids are random, and a written notebook's keys are sorted), then
    the widgets no cell displays, by content."""
    state = notebook.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    models = {k: m for k, m in state.items() if m["model_name"] == "OutputModel"}
    shown = [
        out["data"][WIDGET_VIEW]["model_id"]
        for cell in notebook.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if WIDGET_VIEW in out.get("data", {})
    ]
    order = [k for k in dict.fromkeys(shown) if k in models]
    rest = [normalized(m["state"].get("outputs", [])) for k, m in models.items() if k not in order]
    return [normalized(models[k]["state"].get("outputs", [])) for k in order] + sorted(
        rest, key=lambda outputs: json.dumps(outputs, sort_keys=True)
    )


async def nbclient_outputs(path: Path, limit: int) -> list[list[dict[str, Any]]]:
    """The code cells' outputs as nbclient gives them ([] if the kernel died), then
    those its Output widgets captured (see ``output_widgets``)."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=limit,
        interrupt_on_timeout=True,
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    try:
        await client.async_execute()
    except DeadKernelError:
        return []
    cells = [normalized(c.outputs) for c in nb.cells if c.cell_type == "code"]
    return [*cells, *output_widgets(nb)]


async def our_outputs(
    api: Any, root_dir: Path, path: Path, limit: int
) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """Import, run block by block, export: the code cells' outputs and the runs."""
    notebook = nbformat.read(path, as_version=4)
    if "name" not in notebook.metadata.get("kernelspec", {"name": ""}):
        del notebook.metadata["kernelspec"]  # invalid ("Output"): our import refuses it
    document = json.loads(nbformat.writes(notebook))
    r = await api("POST", "projects/import", json_body={"notebook": document})
    assert r.status == 201, r.body
    project = r.body
    pid = project["id"]
    folder = root_dir / project["working_dir"]
    folder.mkdir(parents=True, exist_ok=True)
    for extra in path.parent.glob("*.png"):  # "Inline Image" reads python.png
        shutil.copy(extra, folder / extra.name)
    r = await api("GET", f"projects/{pid}/blocks", params={"limit": 500})
    blocks = r.body["items"]
    assert len(blocks) == len(notebook.cells)
    runs = []
    for cell, block in zip(notebook.cells, blocks, strict=True):
        if not executed_by_nbclient(cell):
            continue
        if limit != 60:
            body = {"version": block["version"], "timeout_seconds": limit}
            r = await api("PATCH", f"projects/{pid}/blocks/{block['id']}", json_body=body)
            assert r.status == 200, r.body
        r = await api(
            "POST", f"projects/{pid}/blocks/{block['id']}/execute", params={"wait": "true"}
        )
        assert r.status == 200, r.body
        runs.append(r.body)
    r = await api("GET", f"projects/{pid}/notebook")
    assert r.status == 200, r.body
    exported = nbformat.reads(r.raw.decode(), as_version=4)
    nbformat.validate(exported)
    cells = [normalized(c.outputs) for c in exported.cells if c.cell_type == "code"]
    return [*cells, *output_widgets(exported)], runs


@pytest.mark.parametrize("names", GROUPS, ids=["+".join(g) for g in GROUPS])
async def test_notebook_outputs_match_nbclients(
    names: tuple[str, ...],
    nbclient_files: Path,
    api: Any,
    jp_serverapp: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    paths = [nbclient_files / name for name in names]
    limit = TIMEOUTS.get(names[0], 60)
    # the parallel notebooks' meeting place; kernels inherit the server's environment
    monkeypatch.setenv("NBEXECUTE_TEST_PARALLEL_TMPDIR", str(tmp_path / "reference"))
    (tmp_path / "reference").mkdir()
    expected = await asyncio.gather(*(nbclient_outputs(p, limit) for p in paths))
    monkeypatch.setenv("NBEXECUTE_TEST_PARALLEL_TMPDIR", str(tmp_path / "ours"))
    (tmp_path / "ours").mkdir()
    root = Path(jp_serverapp.root_dir)
    ours = await asyncio.gather(*(our_outputs(api, root, p, limit) for p in paths))
    if names == ("Autokill.ipynb",):  # the kernel kills itself: nbclient raises DeadKernelError
        ((cells, runs),) = ours
        assert expected == [[]]
        assert [r["error"]["reason"] for r in runs] == ["kernel_died"]
        assert cells == [[]]
        return
    assert [cells for cells, _ in ours] == expected
    if len(names) > 1:  # they met: each one's waiting block succeeded
        assert all(r["status"] == "succeeded" for _, runs in ours for r in runs)
