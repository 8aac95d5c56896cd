"""Datasets over REST: streamed uploads of every format, bad files, limits, versions,
deletion with blob cleanup, registration, diff, download, roles, catalog."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import os
from pathlib import Path

import pandas as pd
import pytest
from conftest import make_project
from identity import token

FRAME = pd.DataFrame(
    {
        "id": [1, 2, 3, 4],
        "city": ["Lima", "Oslo", None, "Lima"],
        "price": [1.5, 2.0, None, 4.25],
    }
)


def as_bytes(fmt: str, frame: pd.DataFrame = FRAME) -> bytes:
    buf = io.BytesIO()
    if fmt == "csv":
        frame.to_csv(buf, index=False)
    elif fmt == "tsv":
        frame.to_csv(buf, sep="\t", index=False)
    elif fmt == "parquet":
        frame.to_parquet(buf, index=False)
    elif fmt == "json":
        frame.to_json(buf, orient="records")
    elif fmt == "jsonl":
        frame.to_json(buf, orient="records", lines=True)
    elif fmt == "xlsx":
        frame.to_excel(buf, index=False)
    return buf.getvalue()


@pytest.fixture
def extension_config(tmp_path):
    return {"dataset_max_bytes": 256 * 1024}


def blobs(jp_serverapp) -> list[Path]:
    (app,) = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    root = Path(app.services.datasets.store.root) / "blobs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def staging_files(jp_serverapp) -> list[str]:
    (app,) = jp_serverapp.extension_manager.extension_apps["ai_notebook_ext"]
    folder = app.services.staging_dir
    return os.listdir(folder) if os.path.isdir(folder) else []


async def upload(api, pid, name, data, filename="", fmt=None, user="alice"):
    params = {"name": name}
    if filename:
        params["filename"] = filename
    if fmt:
        params["format"] = fmt
    return await api("POST", f"projects/{pid}/datasets/upload", raw=data, params=params, user=user)


@pytest.mark.parametrize("fmt", ["csv", "tsv", "parquet", "json", "jsonl", "xlsx"])
async def test_every_format_uploads_with_schema_rows_and_profile(api, fmt):
    pid = await make_project(api)
    data = as_bytes(fmt)
    r = await upload(api, pid, "sales", data, filename=f"sales.{fmt}")
    assert r.status == 201, r.body
    version = r.body["version"]
    assert (version["number"], version["format"], version["row_count"]) == (1, fmt, 4)
    assert [c["name"] for c in version["columns"]] == ["id", "city", "price"]
    assert version["blob"] == hashlib.sha256(data).hexdigest()
    assert version["size"] == len(data)
    assert version["created_by"] == "alice"
    r = await api("GET", f"projects/{pid}/datasets/{r.body['dataset']['id']}/versions/1/profile")
    assert r.status == 200, r.body
    price = {c["name"]: c for c in r.body["columns"]}["price"]
    assert price["nulls"] == 1
    assert price["max"] == pytest.approx(4.25)


async def test_format_is_detected_from_content_without_a_name(api):
    pid = await make_project(api)
    r = await upload(api, pid, "p", as_bytes("parquet"))
    assert r.status == 201, r.body
    assert r.body["version"]["format"] == "parquet"
    r = await upload(api, pid, "j", as_bytes("jsonl"))
    assert r.body["version"]["format"] == "jsonl"


@pytest.mark.parametrize(
    ("data", "filename", "fmt", "fragment"),
    [
        (b"id,city\n1,Lima\n", "x.parquet", None, "its content is csv"),
        (as_bytes("parquet"), "x.csv", None, "its content is parquet"),
        (b'[{"a": 1}, {"a": ', "x.json", None, "cannot read the file as json"),
        (b"\x00\x01\x02\x03", "x.csv", None, "binary data"),
        (b"PK\x03\x04 not really a zip", "x.xlsx", None, "zip archive"),
        (b"a,b\n1,2\n", "", "xlsx", "its content is csv"),
        (b"", "x.csv", None, "empty"),
    ],
)
async def test_broken_or_mislabeled_files_get_400_with_the_reason(
    api, jp_serverapp, data, filename, fmt, fragment
):
    pid = await make_project(api)
    r = await upload(api, pid, "bad", data, filename=filename, fmt=fmt)
    assert r.status == 400, r.body
    assert fragment in r.error["message"]
    assert "staging" not in r.error["message"]  # no server paths
    assert "upload-" not in r.error["message"]
    assert (await api("GET", f"projects/{pid}/datasets")).body["items"] == []
    assert blobs(jp_serverapp) == []
    assert staging_files(jp_serverapp) == []


async def test_oversize_uploads_get_413_and_leave_nothing(api, jp_serverapp):
    pid = await make_project(api)
    big = b"a,b\n" + b"1,2\n" * 70_000  # 280 kB over the 256 kB limit
    r = await upload(api, pid, "big", big, filename="big.csv")
    assert r.status == 413, r.body
    assert "dataset_max_bytes" in r.error["message"]
    assert blobs(jp_serverapp) == []
    assert staging_files(jp_serverapp) == []


async def test_odd_names_and_filenames_never_become_paths(api, jp_serverapp, tmp_path):
    pid = await make_project(api)
    r = await upload(api, pid, "ok", as_bytes("csv"), filename="../../../etc/passwd.csv")
    assert r.status == 201, r.body
    assert r.body["version"]["filename"] == "passwd.csv"
    r = await upload(api, pid, "ok2", as_bytes("csv"), filename="..\\..\\x\x07.csv")
    assert r.status == 201, r.body
    label = r.body["version"]["filename"]
    assert label.startswith("x")
    assert label.endswith(".csv")
    assert all(c.isprintable() for c in label)
    assert "\\" not in label
    assert ".." not in label
    for name in ("../escape", "a/b", "tab\there", ""):
        r = await upload(api, pid, name, as_bytes("csv"), filename="f.csv")
        assert r.status == 400, (name, r.body)
    assert not list(tmp_path.rglob("passwd*"))
    files = blobs(jp_serverapp)
    assert all(p.name == hashlib.sha256(p.read_bytes()).hexdigest() for p in files)
    r = await api("POST", f"projects/{pid}/datasets/upload", raw=b"a\n1\n", params={})
    assert r.status == 400
    assert "'name' is required" in r.error["message"]


async def test_identical_reupload_makes_no_version_and_changes_do(api, jp_serverapp):
    pid = await make_project(api)
    first = await upload(api, pid, "sales", as_bytes("csv"), filename="s.csv")
    again = await upload(api, pid, "sales", as_bytes("csv"), filename="s.csv")
    assert again.status == 200, again.body
    assert again.body["created"] is False
    assert again.body["version"]["number"] == 1
    changed = FRAME.assign(qty=[1, 2, 3, 4], price=["low", "high", "low", "mid"])
    r = await upload(api, pid, "sales", as_bytes("csv", changed), filename="s.csv")
    assert r.status == 201
    assert (r.body["version"]["number"], r.body["version"]["parent"]) == (2, 1)
    did = first.body["dataset"]["id"]
    r = await api("GET", f"projects/{pid}/datasets/{did}/versions")
    assert [v["number"] for v in r.body["items"]] == [2, 1]
    r = await api("GET", f"projects/{pid}/datasets/{did}/diff", params={"base": 1, "other": 2})
    assert r.status == 200, r.body
    assert [c["name"] for c in r.body["added"]] == ["qty"]
    assert r.body["removed"] == []
    assert r.body["changed"] == [{"name": "price", "before": "DOUBLE", "after": "VARCHAR"}]
    assert len(blobs(jp_serverapp)) == 2


async def wait_ready(api, pid, did, number):
    for _ in range(200):
        r = await api("GET", f"projects/{pid}/datasets/{did}/versions/{number}")
        if r.body["status"] != "processing":
            return r.body
        await asyncio.sleep(0.05)
    raise AssertionError("the version stayed processing")


async def test_background_uploads_answer_before_counting(api):
    pid = await make_project(api)
    rules = {"kind": "row_count", "params": {"min": 1}}
    r = await upload(api, pid, "bg", as_bytes("csv"), filename="a.csv")
    did = r.body["dataset"]["id"]
    assert (
        await api("POST", f"projects/{pid}/datasets/{did}/rules", json_body=rules)
    ).status == 201
    data = as_bytes("csv", pd.concat([FRAME] * 50))
    r = await api(
        "POST",
        f"projects/{pid}/datasets/upload",
        raw=data,
        params={"name": "bg", "filename": "b.csv", "background": "true"},
    )
    assert r.status == 202, r.body
    assert [c["name"] for c in r.body["version"]["columns"]] == ["id", "city", "price"]
    version = await wait_ready(api, pid, did, 2)
    assert (version["status"], version["row_count"]) == ("ready", 200)
    assert version["quality"]["passed"] is True
    r = await api("GET", f"projects/{pid}/datasets/{did}/versions/2/profile")
    assert r.body["row_count"] == 200
    # A file whose start parses but whose body does not becomes a broken version.
    broken = b"a,b\n" + b"1,2\n" * 30_000 + b"3,4,5,6\n" + b"7,8\n"
    r = await api(
        "POST",
        f"projects/{pid}/datasets/upload",
        raw=broken,
        params={"name": "bg", "filename": "c.csv", "background": "true"},
    )
    assert r.status == 202, r.body
    version = await wait_ready(api, pid, did, 3)
    assert version["status"] == "broken"
    assert version["row_count"] is None
    assert "cannot read the file as csv" in version["problem"]


async def test_download_streams_the_exact_bytes(api):
    pid = await make_project(api)
    data = as_bytes("parquet")
    r = await upload(api, pid, "sales/2024".replace("/", "-"), data, filename="a.parquet")
    did = r.body["dataset"]["id"]
    r = await api("GET", f"projects/{pid}/datasets/{did}/versions/1/download")
    assert r.status == 200
    assert r.raw == data
    assert 'filename="sales-2024-v1.parquet"' in r.headers["Content-Disposition"]


async def test_deleting_versions_and_datasets_removes_unreferenced_blobs(api, jp_serverapp):
    pid = await make_project(api)
    a, b = as_bytes("csv"), as_bytes("csv", FRAME.head(2))
    did = (await upload(api, pid, "one", a, filename="a.csv")).body["dataset"]["id"]
    await upload(api, pid, "one", b, filename="b.csv")
    other = (await upload(api, pid, "two", a, filename="a.csv")).body["dataset"]["id"]
    assert len(blobs(jp_serverapp)) == 2  # "two" shares a's blob
    # Its profile was computed once, for the content, and is served again as stored.
    first = await api("GET", f"projects/{pid}/datasets/{did}/versions/1/profile")
    shared = await api("GET", f"projects/{pid}/datasets/{other}/versions/1/profile")
    assert first.body == shared.body
    assert (await api("DELETE", f"projects/{pid}/datasets/{did}/versions/2")).status == 204
    assert len(blobs(jp_serverapp)) == 1
    assert (await api("DELETE", f"projects/{pid}/datasets/{did}")).status == 204
    assert len(blobs(jp_serverapp)) == 1  # still used by "two"
    assert (await api("DELETE", f"projects/{pid}/datasets/{other}")).status == 204
    assert blobs(jp_serverapp) == []
    assert (await api("GET", f"projects/{pid}/datasets/{did}")).status == 404


async def test_registering_a_file_under_the_root_dir(api, jp_root_dir, tmp_path):
    pid = await make_project(api)
    (jp_root_dir / "data").mkdir()
    (jp_root_dir / "data" / "sales.csv").write_bytes(as_bytes("csv"))
    outside = tmp_path / "outside.csv"
    outside.write_bytes(as_bytes("csv"))
    (jp_root_dir / "data" / "link.csv").symlink_to(outside)
    body = {"name": "sales", "path": "data/sales.csv"}
    r = await api("POST", f"projects/{pid}/datasets/register", json_body=body)
    assert r.status == 201, r.body
    assert r.body["version"]["source"] == "register"
    for path in ("../outside.csv", str(outside), "data/link.csv", "data/missing.csv"):
        r = await api(
            "POST", f"projects/{pid}/datasets/register", json_body={"name": "x", "path": path}
        )
        assert r.status == 400, (path, r.body)
    names = [d["name"] for d in (await api("GET", f"projects/{pid}/datasets")).body["items"]]
    assert names == ["sales"]


async def test_viewers_read_and_editors_upload(api):
    pid = await make_project(api, bob="viewer", carol="editor")
    r = await upload(api, pid, "s", as_bytes("csv"), filename="s.csv", user="bob")
    assert r.status == 403
    assert "editor" in r.error["message"]
    r = await upload(api, pid, "s", as_bytes("csv"), filename="s.csv", user="carol")
    assert r.status == 201
    did = r.body["dataset"]["id"]
    assert (await api("GET", f"projects/{pid}/datasets", user="bob")).status == 200
    r = await api("GET", f"projects/{pid}/datasets/{did}/versions/1/download", user="bob")
    assert r.status == 200
    assert (await api("DELETE", f"projects/{pid}/datasets/{did}", user="bob")).status == 403
    r = await api("PATCH", f"projects/{pid}/datasets/{did}", json_body={"tags": ["x"]}, user="bob")
    assert r.status == 403
    # Strangers learn nothing; anonymous callers are refused before the body is read.
    assert (await api("GET", f"projects/{pid}/datasets", user="dave")).status == 404
    r = await upload(api, pid, "s", as_bytes("csv"), filename="s.csv", user="dave")
    assert r.status == 404
    r = await upload(api, pid, "s", as_bytes("csv"), filename="s.csv", user=None)
    assert r.status == 403
    r = await upload(api, pid, "s", as_bytes("csv"), filename="s.csv", user="denied")
    assert r.status == 403


async def test_the_catalog_searches_visible_projects(api):
    mine = await make_project(api, "mine")
    theirs = await make_project(api, "theirs", user="bob")
    r = await upload(api, mine, "customer_orders", as_bytes("csv"), filename="o.csv")
    did = r.body["dataset"]["id"]
    body = {"description": "Orders from the shop", "tags": ["finance", "daily"]}
    r = await api("PATCH", f"projects/{mine}/datasets/{did}", json_body=body)
    assert r.status == 200, r.body
    assert r.body["tags"] == ["daily", "finance"]
    await upload(api, theirs, "secret_orders", as_bytes("csv"), filename="o.csv", user="bob")
    for q, matched in [
        ("ORDERS", ["name", "description"]),
        ("financ", ["tag"]),
        ("price", ["column"]),
    ]:
        r = await api("GET", "datasets", params={"q": q})
        assert r.status == 200, r.body
        assert [(h["name"], h["matched"]) for h in r.body["items"]] == [
            ("customer_orders", matched)
        ]
    r = await api("GET", "datasets", params={"q": "orders"}, user="root")  # admin sees all
    assert sorted(h["name"] for h in r.body["items"]) == ["customer_orders", "secret_orders"]
    assert (await api("GET", "datasets", params={"q": ""})).status == 400


async def test_an_aborted_upload_leaves_nothing_behind(api, jp_serverapp, jp_http_port):
    pid = await make_project(api)
    path = f"/ai-notebook/api/projects/{pid}/datasets/upload?name=half&filename=h.csv"
    base = jp_serverapp.base_url.rstrip("/")
    reader, writer = await asyncio.open_connection("127.0.0.1", jp_http_port)
    writer.write(
        (
            f"POST {base}{path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: token {token('alice')}\r\nContent-Length: 50000\r\n\r\n"
        ).encode()
        + b"a,b\n" * 1000
    )
    await writer.drain()
    for _ in range(100):  # the server has started staging the body
        if staging_files(jp_serverapp):
            break
        await asyncio.sleep(0.02)
    assert staging_files(jp_serverapp)
    writer.transport.abort()
    for _ in range(100):
        if not staging_files(jp_serverapp):
            break
        await asyncio.sleep(0.02)
    assert staging_files(jp_serverapp) == []
    assert blobs(jp_serverapp) == []
    assert (await api("GET", f"projects/{pid}/datasets")).body["items"] == []
    del reader


async def refused_upload(port: int, path: str, user: str, length: int) -> str:
    """Send only the headers of an upload; the whole answer (the server ends it)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Authorization: token {token(user)}\r\nContent-Length: {length}\r\n\r\n"
        ).encode()
    )
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), 30)  # until the server closes
    writer.close()
    return answer.decode(errors="replace")


async def test_a_refused_upload_closes_its_connection(api, jp_serverapp, jp_http_port):
    pid = await make_project(api, bob="viewer")
    base = jp_serverapp.base_url.rstrip("/")
    path = f"{base}/ai-notebook/api/projects/{pid}/datasets/upload?name=x&filename=x.csv"
    for user, length, status in (
        ("alice", 10_000_000, 413),  # over dataset_max_bytes
        ("bob", 100, 403),  # a viewer
        ("dave", 100, 404),  # not a member
    ):
        answer = await refused_upload(jp_http_port, path, user, length)
        head = answer.split("\r\n\r\n")[0].lower()
        assert head.startswith(f"http/1.1 {status} "), answer
        assert "\r\nconnection: close" in head, answer
    assert (await api("GET", f"projects/{pid}/datasets")).body["items"] == []


async def test_bad_dataset_requests(api):
    pid = await make_project(api)
    did = (await upload(api, pid, "s", as_bytes("csv"), filename="s.csv")).body["dataset"]["id"]
    cases = [
        ("GET", f"projects/{pid}/datasets/{did}/versions/9", None, 404),
        ("GET", f"projects/{pid}/datasets/abc", None, 404),
        ("GET", f"projects/{pid}/datasets/{did}/diff", None, 400),
        ("PATCH", f"projects/{pid}/datasets/{did}", {"tags": "x"}, 400),
        ("PATCH", f"projects/{pid}/datasets/{did}", {"name": "renamed"}, 400),
        ("POST", f"projects/{pid}/datasets/register", {"name": "x"}, 400),
        ("GET", f"projects/{pid + 1}/datasets", None, 404),
    ]
    for method, path, body, status in cases:
        r = await api(method, path, json_body=body)
        assert r.status == status, (method, path, r.body)
    r = await upload(api, pid, "s", b"a\n1\n", filename="s.csv", fmt="exe")
    assert r.status == 400
    assert "format must be one of" in r.error["message"]
    assert json.dumps(r.error)  # the documented shape


async def test_hostile_files_and_names_get_clear_answers(api, jp_root_dir):
    pid = await make_project(api)
    # Numbers at the edge of what a float holds still profile.
    for name, data in (("edge", b"x\n-1e308\n1e308\n"), ("tiny", b"x\n0\n5e-324\n")):
        r = await upload(api, pid, name, data, filename="e.csv")
        assert r.status == 201, r.body
        did = r.body["dataset"]["id"]
        r = await api("GET", f"projects/{pid}/datasets/{did}/versions/1/profile")
        assert r.status == 200, r.body
        assert r.body["columns"][0]["count"] == 2
    # An xlsx whose sheet XML is broken is refused with the reason.
    import zipfile

    buf = io.BytesIO(as_bytes("xlsx"))
    broken = io.BytesIO()
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(broken, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/"):
                data = data[: len(data) // 2]
            dst.writestr(item, data)
    r = await upload(api, pid, "broken", broken.getvalue(), filename="b.xlsx")
    assert r.status == 400, r.body
    assert "cannot read the file as xlsx" in r.error["message"]
    # A name outside Latin-1 downloads under an ASCII name plus its UTF-8 form.
    r = await upload(api, pid, "数据 ümlaut", as_bytes("csv"), filename="d.csv")
    did = r.body["dataset"]["id"]
    r = await api("GET", f"projects/{pid}/datasets/{did}/versions/1/download")
    assert r.status == 200
    disposition = r.headers["Content-Disposition"]
    assert "filename*=UTF-8''%E6%95%B0%E6%8D%AE" in disposition
    assert disposition.encode("ascii")
    # Hidden files are not registered.
    (jp_root_dir / ".secrets").mkdir()
    (jp_root_dir / ".secrets" / "token.csv").write_bytes(as_bytes("csv"))
    body = {"name": "leak", "path": ".secrets/token.csv"}
    r = await api("POST", f"projects/{pid}/datasets/register", json_body=body)
    assert r.status == 400, r.body
    assert "hidden" in r.error["message"]
