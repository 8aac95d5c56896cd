"""`jupyter ai-notebook backup` of a running server and `restore` into a fresh place.

On SQLite and PostgreSQL: a project with blocks, runs with image outputs (artifacts) and
datasets with versions is backed up while its server runs, restored into an empty
database and data folder, and a new server started on the restored copy has everything,
with the dataset bytes checked by hash and readable from a kernel.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from conftest import make_project
from server_process import ServerProcess

JUPYTER = str(Path(sys.executable).parent / "jupyter")
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
SALES_V1 = b"id,city,price\n1,Oslo,10\n2,Rome,20\n"
SALES_V2 = b"id,city,price\n1,Oslo,10\n2,Rome,20\n3,Lima,30\n"
CITIES = b"city,country\nOslo,NO\nRome,IT\n"


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "cli-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "cli-runtime"),
        "JUPYTER_PLATFORM_DIRS": "1",
    }
    return subprocess.run(
        [JUPYTER, "ai-notebook", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def fetch(server: ServerProcess, path: str) -> bytes:
    req = urllib.request.Request(server.url + path)
    req.add_header("Authorization", f"token {server.token}")
    with urllib.request.urlopen(req, timeout=60) as resp:
        return bytes(resp.read())


async def populate(api: Any) -> dict[str, Any]:
    """A project with blocks, an image output and two datasets (one with two versions)."""
    pid = await make_project(api, "quarterly", bob="editor")
    png = base64.b64encode(PNG).decode()
    sources = [
        "# Sales\nNotes about the data.",
        "total = 6 * 7\ntotal",
        f"from IPython.display import display\ndisplay({{'image/png': '{png}'}}, raw=True)",
    ]
    r = await api(
        "POST",
        f"projects/{pid}/blocks/bulk",
        json_body={"blocks": [{"source": s, "kind": "code"} for s in sources[1:]]},
    )
    assert r.status == 201, r.body
    code_ids = [b["id"] for b in r.body["items"]]
    r = await api(
        "POST", f"projects/{pid}/blocks", json_body={"kind": "markdown", "source": sources[0]}
    )
    assert r.status == 201, r.body
    runs = {}
    for bid in code_ids:
        r = await api("POST", f"projects/{pid}/blocks/{bid}/execute", params={"wait": "true"})
        assert r.status == 200, r.body
        assert r.body["status"] == "succeeded", r.body
        runs[bid] = r.body
    image = runs[code_ids[1]]["outputs"][0]["artifacts"]["image/png"]
    for name, data in (("sales", SALES_V1), ("sales", SALES_V2), ("cities", CITIES)):
        r = await api(
            "POST",
            f"projects/{pid}/datasets/upload",
            raw=data,
            params={"name": name, "filename": f"{name}.csv"},
        )
        assert r.status == 201, r.body
    blocks = (await api("GET", f"projects/{pid}/blocks")).body["items"]
    return {"pid": pid, "blocks": blocks, "runs": runs, "image": image["id"]}


def restored_target(request: Any, db_url: str, tmp_path: Path) -> str:
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'restored' / 'restored.db'}"
    return str(request.getfixturevalue("pg_server").create_database("r_" + uuid.uuid4().hex[:12]))


async def test_backup_a_running_server_and_restore_it_elsewhere(api, db_url, tmp_path, request):
    made = await populate(api)
    backup = tmp_path / "backup"
    data_dir = tmp_path / "ainb-data"  # the running server's (conftest)

    took = await asyncio.to_thread(
        cli, tmp_path, "backup", str(backup), f"--database-url={db_url}", f"--data-dir={data_dir}"
    )
    assert took.returncode == 0, took.stderr
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest["backend"] == ("sqlite" if db_url.startswith("sqlite") else "postgresql")
    assert set(manifest["blobs"]) == {
        hashlib.sha256(d).hexdigest() for d in (SALES_V1, SALES_V2, CITIES)
    }
    assert made["image"] in manifest["artifacts"]
    assert manifest["missing"] == {}
    # the server keeps running and writing after the snapshot
    assert (await api("POST", "projects", json_body={"name": "after the backup"})).status == 201

    target_url = restored_target(request, db_url, tmp_path)
    workdir = tmp_path / "restored"
    workdir.mkdir()
    target_data = workdir / "data"
    restore = ("restore", str(backup), f"--database-url={target_url}", f"--data-dir={target_data}")
    done = await asyncio.to_thread(cli, tmp_path, *restore)
    assert done.returncode == 0, done.stderr
    assert "bytes verified" in done.stdout
    again = await asyncio.to_thread(cli, tmp_path, *restore)  # the target is no longer empty
    assert again.returncode == 2
    assert "not empty" in again.stderr

    server = ServerProcess(
        workdir,
        target_url,
        extra_config={"AINotebookApp": {"single_user": True, "local_username": "alice"}},
    )
    await asyncio.to_thread(server.start)
    try:
        await asyncio.to_thread(check_restored, server, made)
    finally:
        await asyncio.to_thread(server.stop)


def check_restored(server: ServerProcess, made: dict[str, Any]) -> None:
    pid = made["pid"]
    status, projects = server.request("GET", "ai-notebook/api/projects")
    assert status == 200, projects
    assert [p["name"] for p in projects["items"]] == ["quarterly"]  # not the later one
    _, members = server.request("GET", f"ai-notebook/api/projects/{pid}/members")
    assert {m["username"]: m["role"] for m in members["items"]} == {
        "alice": "owner",
        "bob": "editor",
    }
    _, blocks = server.request("GET", f"ai-notebook/api/projects/{pid}/blocks")
    assert [(b["id"], b["kind"], b["source"]) for b in blocks["items"]] == [
        (b["id"], b["kind"], b["source"]) for b in made["blocks"]
    ]
    for before in made["runs"].values():
        _, run = server.request("GET", f"ai-notebook/api/projects/{pid}/runs/{before['id']}")
        assert run["status"] == "succeeded"
        assert run["outputs"] == before["outputs"]
    assert fetch(server, f"ai-notebook/api/projects/{pid}/artifacts/{made['image']}") == PNG

    _, datasets = server.request("GET", f"ai-notebook/api/projects/{pid}/datasets")
    by_name = {d["name"]: d for d in datasets["items"]}
    assert set(by_name) == {"sales", "cities"}
    expected = {"sales": [SALES_V2, SALES_V1], "cities": [CITIES]}
    for name, contents in expected.items():
        base = f"ai-notebook/api/projects/{pid}/datasets/{by_name[name]['id']}/versions"
        _, versions = server.request("GET", base)
        assert [v["number"] for v in versions["items"]] == list(range(len(contents), 0, -1))
        for version, content in zip(versions["items"], contents, strict=True):
            data = fetch(server, f"{base}/{version['number']}/download")
            assert hashlib.sha256(data).hexdigest() == version["blob"]
            assert data == content

    # a kernel of the restored server reads the restored datasets by name
    status, block = server.request(
        "POST",
        f"ai-notebook/api/projects/{pid}/blocks",
        {"source": "len(ain.load('sales')), len(ain.load('sales', version=1))"},
    )
    assert status == 201, block
    status, run = server.request(
        "POST", f"ai-notebook/api/projects/{pid}/blocks/{block['id']}/execute?wait=true"
    )
    assert status == 200, run
    assert run["status"] == "succeeded", run
    assert run["outputs"][-1]["data"]["text/plain"] == "(3, 2)"


async def test_restore_refuses_a_damaged_backup_or_a_used_target(api, db_url, tmp_path):
    await populate(api)
    backup = tmp_path / "backup"
    data_dir = tmp_path / "ainb-data"
    took = await asyncio.to_thread(
        cli, tmp_path, "backup", str(backup), f"--database-url={db_url}", f"--data-dir={data_dir}"
    )
    assert took.returncode == 0, took.stderr
    refused = await asyncio.to_thread(
        cli, tmp_path, "backup", str(backup), f"--data-dir={data_dir}"
    )
    assert refused.returncode == 2
    assert "not empty" in refused.stderr

    # into the running server's own database and folder: refused, nothing changed
    args = (f"--database-url={db_url}", f"--data-dir={data_dir}")
    used = await asyncio.to_thread(cli, tmp_path, "restore", str(backup), *args)
    assert used.returncode == 2
    assert "target database is not empty" in used.stderr
    assert len((await api("GET", "projects")).body["items"]) == 1

    # a dataset blob whose bytes changed: refused before anything is written
    blob = next((backup / "blobs").rglob("*"), None)
    while blob is not None and blob.is_dir():
        blob = next(blob.iterdir())
    assert blob is not None
    blob.write_bytes(b"tampered")
    fresh = tmp_path / "fresh"
    target = (
        f"sqlite:///{fresh / 'x.db'}" if db_url.startswith("sqlite") else db_url + "_never_made"
    )
    bad = await asyncio.to_thread(
        cli, tmp_path, "restore", str(backup), f"--database-url={target}", f"--data-dir={fresh}"
    )
    assert bad.returncode == 2
    assert "damaged" in bad.stderr
    assert not [p for p in fresh.rglob("*") if p.is_file()]  # nothing written
