"""Project bundles: GET .../projects/{id}/bundle and POST .../projects/bundle.

On SQLite and PostgreSQL, with a real server and kernels: a project with blocks, a
manual edge, a dataset with a CSV and a JSON version (a quality rule, tags), block runs
with an image artifact and a pipeline run is exported and imported as a new project
that has equal rows, byte-identical datasets, and runs in its own kernel. Role checks,
and hostile bundles: each is a 400 that creates nothing.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import resource
import stat
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from conftest import make_project
from sqlalchemy import text

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)
SALES_CSV = b"id,city,price\n1,Oslo,10\n2,Rome,20\n"
SALES_JSON = b'[{"id": 1, "city": "Oslo", "price": 10}, {"id": 2, "city": "Rome", "price": 20},'
SALES_JSON += b' {"id": 3, "city": "Lima", "price": 30}]'
LIMIT = 48 << 20  # bundle_max_bytes of these tests


@pytest.fixture
def extension_config() -> dict[str, Any]:
    return {"bundle_max_bytes": LIMIT}


def services(jp_serverapp: Any) -> Any:
    (app,) = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    return app.services


async def populate(api: Any) -> dict[str, Any]:
    pid = await make_project(api, "quarterly", bob="viewer")
    png = base64.b64encode(PNG).decode()
    sources = [
        "total = 6 * 7\ntotal",
        f"from IPython.display import display\ndisplay({{'image/png': '{png}'}}, raw=True)",
        "sales = ain.load('sales')\nlen(sales)",
    ]
    r = await api(
        "POST",
        f"projects/{pid}/blocks/bulk",
        json_body={"blocks": [{"source": s} for s in sources]},
    )
    assert r.status == 201, r.body
    code = [b["id"] for b in r.body["items"]]
    r = await api(
        "POST",
        f"projects/{pid}/blocks",
        json_body={"kind": "markdown", "source": "# Sales", "position": 0},
    )
    assert r.status == 201, r.body
    r = await api("POST", f"projects/{pid}/edges", json_body={"source": code[0], "target": code[1]})
    assert r.status == 201, r.body
    for data, filename in ((SALES_CSV, "sales.csv"), (SALES_JSON, "sales.json")):
        r = await api(
            "POST",
            f"projects/{pid}/datasets/upload",
            raw=data,
            params={"name": "sales", "filename": filename},
        )
        assert r.status == 201, r.body
    did = r.body["dataset"]["id"]
    r = await api(
        "PATCH",
        f"projects/{pid}/datasets/{did}",
        json_body={"description": "daily sales", "tags": ["retail", "eu"]},
    )
    assert r.status == 200, r.body
    rule = {"kind": "range", "column": "price", "params": {"min": 0, "max": 25}}
    r = await api("POST", f"projects/{pid}/datasets/{did}/rules", json_body=rule)
    assert r.status == 201, r.body
    r = await api("POST", f"projects/{pid}/datasets/{did}/versions/2/quality")
    assert r.status == 200, r.body
    assert r.body["passed"] is False
    r = await api(
        "POST", f"projects/{pid}/runs", json_body={"target": "all"}, params={"wait": "true"}
    )
    assert r.status == 200, r.body
    assert r.body["status"] == "succeeded", r.body
    return {"pid": pid, "did": did, "code": code}


async def export(api: Any, pid: int, user: str = "alice") -> bytes:
    r = await api("GET", f"projects/{pid}/bundle", user=user)
    assert r.status == 200, r.body
    assert r.headers["Content-Type"] == "application/zip"
    assert 'filename="quarterly.ainb.zip"' in r.headers["Content-Disposition"]
    return r.raw


async def import_bundle(api: Any, data: bytes, user: str = "alice", **params: str) -> Any:
    return await api(
        "POST",
        "projects/bundle",
        raw=data,
        user=user,
        params=params or None,
        headers={"Content-Type": "application/zip"},
    )


async def rows(api: Any, pid: int, user: str = "alice") -> dict[str, Any]:
    """The project as the API shows it, with ids replaced by positions."""
    blocks = (await api("GET", f"projects/{pid}/blocks", user=user)).body["items"]
    at = {b["id"]: i for i, b in enumerate(blocks)}
    dag = (await api("GET", f"projects/{pid}/dag", user=user)).body
    runs = (await api("GET", f"projects/{pid}/runs", params={"limit": 500}, user=user)).body
    block_runs, pipelines = [], []
    for run in sorted(runs["items"], key=lambda r: r["queued_at"]):
        if run["kind"] == "pipeline":
            pipelines.append(
                (
                    run["status"],
                    [at[b] for b in run["plan"]],
                    [(at[x["block_id"]], x["status"]) for x in run["results"]],
                )
            )
        else:
            full = (await api("GET", f"projects/{pid}/runs/{run['id']}", user=user)).body
            block_runs.append(
                (at[full["block_id"]], full["status"], full["source"], full["outputs"])
            )
    datasets = []
    for d in (await api("GET", f"projects/{pid}/datasets", user=user)).body["items"]:
        base = f"projects/{pid}/datasets/{d['id']}"
        versions = (await api("GET", f"{base}/versions", user=user)).body["items"]
        rules = (await api("GET", f"{base}/rules", user=user)).body["items"]
        datasets.append(
            {
                "name": d["name"],
                "description": d["description"],
                "tags": d["tags"],
                "rules": [(r["kind"], r["column"], r["params"]) for r in rules],
                "versions": [
                    {
                        k: v[k]
                        for k in (
                            "number",
                            "parent",
                            "blob",
                            "size",
                            "format",
                            "row_count",
                            "columns",
                            "read_options",
                            "status",
                        )
                    }
                    | {"passed": (v.get("quality") or {}).get("passed")}
                    for v in versions
                ],
            }
        )
    return {
        "blocks": [(b["kind"], b["source"], b["version"]) for b in blocks],
        "edges": sorted(
            (at[e["source"]], at[e["target"]]) for e in dag["edges"] if e["kind"] == "explicit"
        ),
        "inferred": sorted(
            (at[e["source"]], at[e["target"]]) for e in dag["edges"] if e["kind"] == "inferred"
        ),
        "block_runs": block_runs,
        "pipelines": pipelines,
        "datasets": datasets,
        "last_runs": [b["last_run_id"] is not None for b in blocks],
    }


async def test_export_then_import_gives_an_equal_project_that_runs(api, jp_serverapp):
    made = await populate(api)
    pid = made["pid"]
    data = await export(api, pid)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        names = set(archive.namelist())
    assert manifest["format"] == "ai-notebook-bundle"
    assert manifest["version"] == 1
    blobs = {hashlib.sha256(d).hexdigest() for d in (SALES_CSV, SALES_JSON)}
    assert set(manifest["blobs"]) == blobs
    assert hashlib.sha256(PNG).hexdigest() in manifest["artifacts"]
    assert names == {"manifest.json", "project.json"} | {f"blobs/{b}" for b in blobs} | {
        f"artifacts/{a}" for a in manifest["artifacts"]
    }

    r = await import_bundle(api, data, user="carol")  # anyone may import: carol owns it
    assert r.status == 201, r.body
    new = r.body
    assert (new["name"], new["owner"], new["role"]) == ("quarterly", "carol", "owner")
    assert new["id"] != pid
    before, after = await rows(api, pid), await rows(api, new["id"], user="carol")
    assert after == before
    assert before["edges"] == [(1, 2)]
    assert len(before["block_runs"]) == 3
    assert len(before["datasets"][0]["versions"]) == 2

    # the members are not copied; the new ids are the new project's own
    members = (await api("GET", f"projects/{new['id']}/members", user="carol")).body["items"]
    assert [m["username"] for m in members] == ["carol"]
    assert (await api("GET", f"projects/{new['id']}", user="bob")).status == 404

    # bytes by hash, profile, lineage, image artifact
    (dataset,) = (await api("GET", f"projects/{new['id']}/datasets", user="carol")).body["items"]
    base = f"projects/{new['id']}/datasets/{dataset['id']}"
    for number in (1, 2):
        version = (await api("GET", f"{base}/versions/{number}", user="carol")).body
        got = (await api("GET", f"{base}/versions/{number}/download", user="carol")).raw
        assert hashlib.sha256(got).hexdigest() == version["blob"]
        r = await api("GET", f"{base}/versions/{number}/profile", user="carol")
        assert r.status == 200, r.body
        assert r.body["row_count"] == (2, 3)[number - 1]
    lineage = (await api("GET", f"{base}/lineage", user="carol")).body
    assert [(x["direction"], x["version"]) for x in lineage["runs"]] == [("read", 2)]
    new_runs = (await api("GET", f"projects/{new['id']}/runs", user="carol")).body["items"]
    assert {x["run_id"] for x in lineage["runs"]} <= {r["id"] for r in new_runs}
    image = [
        out["artifacts"]["image/png"]["id"]
        for _, _, _, outputs in after["block_runs"]
        for out in outputs
        if "image/png" in out.get("artifacts", {})
    ]
    assert image == [hashlib.sha256(PNG).hexdigest()]
    r = await api("GET", f"projects/{new['id']}/artifacts/{image[0]}", user="carol")
    assert r.raw == PNG

    # nothing imported is fresh; the new project's pipeline runs in its own kernel
    dag = (await api("GET", f"projects/{new['id']}/dag", user="carol")).body
    assert "fresh" not in {n["state"] for n in dag["nodes"]}
    code = (await api("GET", f"projects/{new['id']}/blocks", user="carol")).body["items"]
    r = await api(
        "POST",
        f"projects/{new['id']}/blocks",
        user="carol",
        json_body={"source": "len(ain.load('sales', version=1)), len(ain.load('sales'))"},
    )
    assert r.status == 201, r.body
    r = await api(
        "POST",
        f"projects/{new['id']}/runs",
        user="carol",
        json_body={"target": "all"},
        params={"wait": "true"},
    )
    assert r.status == 200, r.body
    assert r.body["status"] == "succeeded", r.body
    assert len(r.body["plan"]) == len(code)  # every code block, none fresh
    last = (
        await api(
            "GET", f"projects/{new['id']}/runs/{r.body['results'][-1]['run_id']}", user="carol"
        )
    ).body
    assert last["outputs"][-1]["data"]["text/plain"] == "(2, 3)"
    assert not os.listdir(services(jp_serverapp).staging_dir)  # nothing left behind


async def test_export_and_import_roles_and_names(api):
    pid = await make_project(api, "quarterly", bob="viewer")
    assert (await api("GET", f"projects/{pid}/bundle", user="bob")).status == 200  # viewer
    r = await api("GET", f"projects/{pid}/bundle", user="carol")  # not a member
    assert r.status == 404, r.body
    assert (await api("GET", "projects/999999/bundle")).status == 404
    data = await export(api, pid)
    r = await import_bundle(api, data, user="bob", name="  copy  ")
    assert r.status == 201, r.body
    assert (r.body["name"], r.body["owner"]) == ("copy", "bob")
    r = await import_bundle(api, data, name="")
    assert r.status == 400
    assert r.error["details"] == {"field": "name"}
    r = await api(
        "POST",
        "projects/bundle",
        raw=data,
        user="denied",
        headers={"Content-Type": "application/zip"},
    )
    assert r.status == 403


# --- hostile bundles -------------------------------------------------------------------


def rezip(data: bytes, change: Any = None, extra: list[tuple[Any, bytes]] = ()) -> bytes:
    """The bundle with its JSON entries changed by ``change(name, obj)`` and entries
    added (ZipInfo or name, bytes)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info)
            if change is not None and info.filename.endswith(".json"):
                obj = change(info.filename, json.loads(body))
                if obj is None:
                    continue
                body = json.dumps(obj).encode()
            dst.writestr(info.filename, body, zipfile.ZIP_DEFLATED)
        for info, body in extra:
            dst.writestr(info, body)
    return out.getvalue()


def drop(entry: str):
    return lambda name, obj: None if name == entry else obj


def edit(entry: str, fn: Any):
    def change(name: str, obj: Any) -> Any:
        if name == entry:
            fn(obj)
        return obj

    return change


def symlink(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def raw_zip(entries: list[tuple[str, bytes, int, int]]) -> bytes:
    """A zip written by hand: (name, deflated data, declared size, crc) per entry, so
    headers can say what the data is not."""
    out = io.BytesIO()
    central = b""
    for name, data, size, crc in entries:
        offset = out.tell()
        encoded = name.encode()
        out.write(
            struct.pack(
                "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, crc, len(data), size, len(encoded), 0
            )
            + encoded
            + data
        )
        central += (
            struct.pack(
                "<IHHHHHHIIIHHHHHII",
                0x02014B50,
                20,
                20,
                0,
                8,
                0,
                0,
                crc,
                len(data),
                size,
                len(encoded),
                0,
                0,
                0,
                0,
                0,
                offset,
            )
            + encoded
        )
    start = out.tell()
    out.write(central)
    n = len(entries)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, n, n, len(central), start, 0))
    return out.getvalue()


def deflated_zeros(size: int) -> tuple[bytes, int]:
    """``size`` zero bytes deflated (made piecewise: never all in memory), and their crc."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts, crc, left = [], 0, size
    while left:
        piece = chunk[: min(left, len(chunk))]
        parts.append(packer.compress(piece))
        crc = zlib.crc32(piece, crc)
        left -= len(piece)
    parts.append(packer.flush())
    return b"".join(parts), crc


def manifest_for(blobs: dict[str, int]) -> bytes:
    return json.dumps(
        {
            "format": "ai-notebook-bundle",
            "version": 1,
            "created_at": "2026-01-01T00:00:00+00:00",
            "blobs": blobs,
        }
    ).encode()


def project_with_blob(sha: str, size: int) -> bytes:
    when = "2026-01-01T00:00:00+00:00"
    version = {"id": 1, "number": 1, "blob": sha, "size": size, "format": "csv", "created_at": when}
    dataset = {
        "id": 1,
        "name": "big",
        "created_at": when,
        "updated_at": when,
        "versions": [version],
    }
    return json.dumps({"project": {"name": "bomb"}, "datasets": [dataset]}).encode()


async def counts(jp_serverapp: Any) -> dict[str, Any]:
    """Rows of every table an import writes, and the files of every store."""
    s = services(jp_serverapp)
    tables = ("projects", "blocks", "runs", "datasets", "dataset_versions", "artifacts", "edges")
    sql = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in tables)
    async with s.db.session() as session:
        found: dict[str, Any] = {
            str(k): int(v) for k, v in (await session.execute(text(sql))).all()
        }
    root = Path(s.datasets.store.root) / "blobs"
    found["blob files"] = sorted(p.name for p in root.rglob("*") if p.is_file())
    found["artifact files"] = (
        sorted(p.name for p in s.runs.artifacts.root.rglob("*") if p.is_file())
        if s.runs.artifacts.root.exists()
        else []
    )
    found["staging"] = os.listdir(s.staging_dir) if os.path.isdir(s.staging_dir) else []  # noqa: ASYNC240
    return found


@pytest.mark.filterwarnings("ignore:Duplicate name")
async def test_hostile_bundles_get_400_and_change_nothing(api, jp_serverapp):
    made = await populate(api)
    good = await export(api, made["pid"])
    sha = hashlib.sha256(SALES_CSV).hexdigest()
    csv_entry = f"blobs/{sha}"

    def swap_blob(data: bytes) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
            for info in src.infolist():
                body = src.read(info)
                if info.filename == csv_entry:
                    body = body.replace(b"Oslo", b"Olso")  # same size, other bytes
                dst.writestr(info.filename, body)
        return out.getvalue()

    def bump_edge(obj: dict[str, Any]) -> None:
        obj["edges"][0]["target_id"] = 2_000_000

    def bad_run_block(obj: dict[str, Any]) -> None:
        obj["runs"][0]["block_id"] = 2_000_000

    def bad_lineage(obj: dict[str, Any]) -> None:
        obj["lineage"][0]["version_id"] = 2_000_000

    def bad_kind(obj: dict[str, Any]) -> None:
        obj["blocks"][0]["kind"] = "shell"

    def nul_source(obj: dict[str, Any]) -> None:
        obj["blocks"][0]["source"] = "a\x00b"

    def bad_rule(obj: dict[str, Any]) -> None:
        rule = {
            "id": 77,
            "kind": "sql",
            "params": {"predicate": "1; DROP TABLE x"},
            "created_at": "2026-01-01T00:00:00Z",
        }
        obj["datasets"][0]["rules"].append(rule)

    def bad_artifact_ref(obj: dict[str, Any]) -> None:
        for run in obj["runs"]:
            for out in run["outputs"]:
                if "artifacts" in out:
                    out["artifacts"]["image/png"]["id"] = "0" * 64

    def version_two(obj: dict[str, Any]) -> None:
        obj["version"] = 2

    def dup_dataset(obj: dict[str, Any]) -> None:
        copy = json.loads(json.dumps(obj["datasets"][0]))
        copy["id"] += 1
        for v in copy["versions"]:
            v["id"] += 1000
        obj["datasets"].append(copy)

    cases: list[tuple[str, bytes, str]] = [
        ("not a zip", b"just some text, not a zip", "not a zip"),
        ("empty zip", rezip(good, lambda n, o: None), "no manifest.json"),
        ("no manifest", rezip(good, drop("manifest.json")), "no manifest.json"),
        ("no project", rezip(good, drop("project.json")), "no project.json"),
        (
            "manifest not JSON",
            rezip(good, drop("manifest.json"), [("manifest.json", b"{{")]),
            "not JSON",
        ),
        (
            "other format",
            rezip(good, edit("manifest.json", lambda o: o.update(format="x"))),
            "not an AI Notebook project bundle",
        ),
        (
            "future version",
            rezip(good, edit("manifest.json", version_two)),
            "version 2 is not supported",
        ),
        ("schema", rezip(good, edit("project.json", bad_kind)), "blocks.0.kind"),
        ("NUL", rezip(good, edit("project.json", nul_source)), "NUL"),
        ("dot dot", rezip(good, None, [("../evil.txt", b"x")]), "'..'"),
        ("dot dot inside", rezip(good, None, [("blobs/../../evil", b"x")]), "'..'"),
        ("absolute", rezip(good, None, [("/etc/evil", b"x")]), "absolute"),
        ("drive", rezip(good, None, [("C:/evil", b"x")]), "absolute"),
        ("backslash", rezip(good, None, [("blobs\\evil", b"x")]), "backslash"),
        ("unknown entry", rezip(good, None, [("notes.txt", b"x")]), "not part of the bundle"),
        ("symlink", rezip(good, None, [(symlink("blobs/" + "a" * 64), b"/etc/passwd")]), "link"),
        ("duplicate", rezip(good, None, [("project.json", b"{}")]), "twice"),
        ("sha mismatch", swap_blob(good), "does not match its sha256"),
        ("edge to nowhere", rezip(good, edit("project.json", bump_edge)), "not in the bundle"),
        ("run of no block", rezip(good, edit("project.json", bad_run_block)), "not in the bundle"),
        ("lineage to nowhere", rezip(good, edit("project.json", bad_lineage)), "not in the bundle"),
        (
            "artifact not carried",
            rezip(good, edit("project.json", bad_artifact_ref)),
            "not in the bundle",
        ),
        (
            "unlisted blob",
            rezip(good, None, [("blobs/" + "b" * 64, b"x")]),
            "not listed in the manifest",
        ),
        ("dataset twice", rezip(good, edit("project.json", dup_dataset)), "appears more than once"),
        ("rule SQL", rezip(good, edit("project.json", bad_rule)), "quality rule 77"),
    ]
    before = await counts(jp_serverapp)
    for label, body, message in cases:
        r = await import_bundle(api, body)
        assert r.status == 400, (label, r.status, r.body)
        assert message in r.error["message"], (label, r.error)
    assert await counts(jp_serverapp) == before
    r = await import_bundle(api, good)  # the good one still imports
    assert r.status == 201, r.body


async def test_size_limits_and_zip_bombs_are_refused_without_memory(api, jp_serverapp):
    before = await counts(jp_serverapp)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux

    # 1. a body over bundle_max_bytes: 413 before it is read
    r = await import_bundle(api, bytes(LIMIT + 1))
    assert r.status == 413, r.body

    # 2. honest headers that unpack past the limit (1 GiB of zeros in 1 MiB)
    zeros, crc = deflated_zeros(1 << 30)
    sha = hashlib.sha256(b"").hexdigest()  # never reached
    bomb = raw_zip(
        [
            ("manifest.json", zlib.compress(manifest_for({sha: 1 << 30}))[2:-4], 0, 0),
            (f"blobs/{sha}", zeros, 1 << 30, crc),
        ]
    )
    r = await import_bundle(api, bomb)
    assert r.status == 400, r.body
    assert "unpacks to" in r.error["message"]

    # 3. headers that lie (1 KiB declared, 1 GiB inside): never more than declared is read
    def entry(name: str, data: bytes) -> tuple[str, bytes, int, int]:
        packer = zlib.compressobj(9, zlib.DEFLATED, -15)
        return name, packer.compress(data) + packer.flush(), len(data), zlib.crc32(data)

    small = 1024
    lying = raw_zip(
        [
            entry("manifest.json", manifest_for({sha: small})),
            entry("project.json", project_with_blob(sha, small)),
            (f"blobs/{sha}", zeros, small, crc),
        ]
    )
    r = await import_bundle(api, lying)
    assert r.status == 400, r.body
    assert "damaged" in r.error["message"] or "sha256" in r.error["message"]

    # 4. within the limit but inflating 1000x: refused as a bomb while reading
    size = 40 << 20
    zeros, crc = deflated_zeros(size)
    sha = hashlib.sha256(bytes(size)).hexdigest()
    inflating = raw_zip(
        [
            entry("manifest.json", manifest_for({sha: size})),
            entry("project.json", project_with_blob(sha, size)),
            (f"blobs/{sha}", zeros, size, crc),
        ]
    )
    r = await import_bundle(api, inflating)
    assert r.status == 400, r.body
    assert "zip bomb" in r.error["message"]

    # 5. too many entries
    many = rezip(
        (await export(api, await make_project(api, "quarterly"))),
        None,
        [(f"blobs/{i:064x}", b"") for i in range(5)],
    )
    services(jp_serverapp).bundles.max_entries = 4
    r = await import_bundle(api, many)
    assert r.status == 400, r.body
    assert "entries" in r.error["message"]

    grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak
    assert grown < 200 * 1024, f"the server's peak memory grew by {grown} KiB"
    after = await counts(jp_serverapp)
    assert after.pop("projects") == before.pop("projects") + 1  # the one exported in 5.
    assert after == before


async def test_the_openapi_document_declares_the_zip(api):
    doc = (await api("GET", "openapi.json")).body
    export = doc["paths"]["/ai-notebook/api/projects/{project_id}/bundle"]["get"]
    assert list(export["responses"]["200"]["content"]) == ["application/zip"]
    assert {"404", "422"} <= set(export["responses"])
    imported = doc["paths"]["/ai-notebook/api/projects/bundle"]["post"]
    assert list(imported["requestBody"]["content"]) == ["application/zip"]
    assert {"201", "400", "413"} <= set(imported["responses"])
