"""Real public files read as pandas reads them: each file of the battery
(dataset_battery.py) is uploaded through the REST API, and for every column our schema
type, the profile's null count, and the row count are compared with pandas' read_csv /
read_json / read_excel defaults (plus only the reading options the version reports,
which ain.load passes too). A few files are then loaded with ain.load in a real project
kernel and compared with the quick profile. Also: the errors a data scientist meets
(not UTF-8, ragged rows, a missing sheet) name what to do."""

from __future__ import annotations

import json

import pytest
from conftest import make_project
from dataset_battery import CASES, Case, file_bytes, pandas_frame, type_agrees
from test_execution import blocks, run

from ai_notebook_ext.datasets.readoptions import duckdb_names


@pytest.fixture
def db_url(tmp_path):
    """SQLite only: reading files does not depend on the database."""
    return f"sqlite:///{tmp_path / 'ainb.db'}"


async def send(api, pid, name, data, filename, **params):
    query = {"name": name, "filename": filename, **params}
    return await api("POST", f"projects/{pid}/datasets/upload", raw=data, params=query)


def extension(case: Case) -> str:
    return {"tsv": "tsv", "json": "json", "jsonl": "jsonl", "xlsx": "xlsx"}.get(case.fmt, "csv")


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_schema_nulls_and_rows_equal_pandas(api, tmp_path, case):
    data = file_bytes(case)
    path = tmp_path / f"{case.id}.{extension(case)}"
    path.write_bytes(data)
    pid = await make_project(api)
    r = await send(api, pid, case.id, data, path.name, **case.params)
    assert r.status == 201, (case.shows, r.body)
    version = r.body["version"]
    assert version["format"] == case.fmt
    for key, value in case.params.items():
        assert version["read_options"][key] == value

    frame = pandas_frame(str(path), case.fmt, version["read_options"])
    # DuckDB's names are case-insensitive: 'V_1' after 'v_1' is 'V_1~2' (stated mapping)
    assert [c["name"] for c in version["columns"]] == duckdb_names(list(map(str, frame.columns)))
    assert version["row_count"] == len(frame)

    did = r.body["dataset"]["id"]
    r = await api("GET", f"projects/{pid}/datasets/{did}/versions/1/profile")
    assert r.status == 200, r.body
    profile = r.body
    assert profile["row_count"] == len(frame)
    wrong = []
    for ours, stats, name in zip(
        version["columns"], profile["columns"], frame.columns, strict=True
    ):
        column = frame[name]
        nulls = int(column.isna().sum())
        if stats["type"] != ours["type"]:
            wrong.append(f"{name}: schema {ours['type']} but profile {stats['type']}")
        if stats["nulls"] != nulls:
            wrong.append(f"{name}: {stats['nulls']} nulls, pandas {nulls}")
        if not type_agrees(column.dtype, ours["type"], nulls):
            wrong.append(f"{name}: {ours['type']} for pandas {column.dtype} ({nulls} nulls)")
    assert not wrong, f"{case.id} ({case.shows}): {wrong}"


KERNEL_CASES = ["airquality", "msleep", "mastectomy", "anes96_tabs", "la_riots_cp1252"]
LOAD = """
import json
df = ain.load({name!r})
print(json.dumps({{
    "rows": len(df),
    "columns": [str(c) for c in df.columns],
    "nulls": [int(n) for n in df.isna().sum()],
    "dtypes": [str(t) for t in df.dtypes],
    "means": [float(df[c].mean()) if df[c].dtype.kind in "if" else None for c in df.columns],
}}))
"""


async def test_the_profile_agrees_with_ain_load_in_a_kernel(api):
    pid = await make_project(api)
    cases = {c.id: c for c in CASES}
    profiles = {}
    for name in KERNEL_CASES:
        case = cases[name]
        r = await send(api, pid, name, file_bytes(case), f"{name}.{extension(case)}", **case.params)
        assert r.status == 201, r.body
        did = r.body["dataset"]["id"]
        r = await api("GET", f"projects/{pid}/datasets/{did}/versions/1/profile")
        assert r.status == 200, r.body
        profiles[name] = r.body
    ids = await blocks(api, pid, *(LOAD.format(name=n) for n in KERNEL_CASES))
    for name, bid in zip(KERNEL_CASES, ids, strict=True):
        out = await run(api, pid, bid)
        assert out["status"] == "succeeded", out
        text = "".join(o.get("text", "") for o in out["outputs"] if o["output_type"] == "stream")
        loaded = json.loads(text)
        profile = profiles[name]
        assert loaded["rows"] == profile["row_count"], name
        assert duckdb_names(loaded["columns"]) == [c["name"] for c in profile["columns"]], name
        assert loaded["nulls"] == [c["nulls"] for c in profile["columns"]], name
        for column, dtype, mean in zip(
            profile["columns"], loaded["dtypes"], loaded["means"], strict=True
        ):
            if mean is not None and column.get("mean") is not None:
                assert column["mean"] == pytest.approx(mean), (name, column["name"])
            assert (column["kind"] == "numeric") == (dtype.startswith(("int", "float"))) or (
                column["nulls"] == profile["row_count"]
            ), (name, column["name"], dtype)


async def test_reading_errors_say_what_to_do(api):
    pid = await make_project(api)
    cases = {c.id: c for c in CASES}
    latin = file_bytes(cases["la_riots_cp1252"])
    r = await send(api, pid, "latin", latin, "la-riots.csv")
    assert r.status == 400
    assert "not UTF-8" in r.error["message"]
    assert "?encoding=cp1252" in r.error["message"]

    ragged = b"a,b,c\n1,2,3\n4,5\n6,7,8,9\n"
    r = await send(api, pid, "ragged", ragged, "r.csv")
    assert r.status == 400
    assert "line 4 has 4 fields; the header has 3" in r.error["message"]

    book = file_bytes(cases["workbook_first"])
    r = await send(api, pid, "book", book, "b.xlsx", sheet="nope")
    assert r.status == 400
    assert "no sheet 'nope'" in r.error["message"]
    assert "'airquality', 'msleep'" in r.error["message"]

    for bad in ({"encoding": "klingon"}, {"delimiter": "::"}, {"thousands": "x"}):
        r = await send(api, pid, "opts", b"a\n1\n", "o.csv", **bad)
        assert r.status == 400, bad
        assert r.error["details"]["field"] == next(iter(bad)), r.error
    r = await api("GET", f"projects/{pid}/datasets")
    assert r.body["items"] == []  # nothing was stored


async def test_thousands_separators_are_text_unless_asked(api):
    pid = await make_project(api)
    data = b'city,people\nParis,"2,102,650"\nLyon,"522,250"\n'
    r = await send(api, pid, "cities", data, "c.csv")
    assert r.status == 201, r.body
    assert r.body["version"]["columns"][1]["type"] == "VARCHAR"  # as pandas: object
    r = await send(api, pid, "cities", data, "c.csv", thousands=",")
    assert r.status == 201, r.body
    version = r.body["version"]
    assert version["number"] == 2  # same bytes, read otherwise: a new version
    assert version["columns"][1]["type"] == "BIGINT"
    assert version["read_options"]["thousands"] == ","
    did = r.body["dataset"]["id"]
    r = await api("GET", f"projects/{pid}/datasets/{did}/versions/2/profile")
    assert r.body["columns"][1]["max"] == 2102650


async def test_quality_checks_count_the_nulls_pandas_sees(api, tmp_path):
    case = {c.id: c for c in CASES}["airquality"]
    data = file_bytes(case)
    path = tmp_path / "airquality.csv"
    path.write_bytes(data)
    frame = pandas_frame(str(path), "csv", {})
    pid = await make_project(api)
    r = await send(api, pid, "air", data, "airquality.csv")
    did = r.body["dataset"]["id"]
    for column in ("Ozone", "Solar.R"):
        rule = {"kind": "not_null", "column": column}
        r = await api("POST", f"projects/{pid}/datasets/{did}/rules", json_body=rule)
        assert r.status == 201, r.body
    rule = {"kind": "range", "column": "Ozone", "params": {"min": 0, "max": 100}}
    r = await api("POST", f"projects/{pid}/datasets/{did}/rules", json_body=rule)
    r = await api("POST", f"projects/{pid}/datasets/{did}/versions/1/quality")
    assert r.status == 200, r.body
    ozone, solar, in_range = r.body["results"]
    assert ozone["failing_rows"] == int(frame["Ozone"].isna().sum()) == 37
    assert solar["failing_rows"] == int(frame["Solar.R"].isna().sum())
    assert in_range["failing_rows"] == int((frame["Ozone"] > 100).sum())  # a number, not text


async def test_registering_a_file_with_reading_options(api, jp_root_dir):
    data = file_bytes({c.id: c for c in CASES}["la_riots_cp1252"])
    (jp_root_dir / "riots.csv").write_bytes(data)
    pid = await make_project(api)
    body = {"name": "riots", "path": "riots.csv"}
    r = await api("POST", f"projects/{pid}/datasets/register", json_body=body)
    assert r.status == 400
    assert "?encoding=cp1252" in r.error["message"]
    r = await api(
        "POST",
        f"projects/{pid}/datasets/register",
        json_body={**body, "encoding": "cp1252"},
    )
    assert r.status == 201, r.body
    assert r.body["version"]["read_options"] == {"delimiter": ",", "encoding": "cp1252"}
    r = await api(
        "POST", f"projects/{pid}/datasets/register", json_body={**body, "delimiter": "::"}
    )
    assert r.status == 400
    assert r.error["details"]["field"] == "delimiter"
