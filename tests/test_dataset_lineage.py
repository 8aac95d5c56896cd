"""ain.load / ain.save in a real project kernel: versions written by blocks, lineage both
ways, errors that say what to do, and staleness when a read dataset gets a new version."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from conftest import make_project
from test_api_datasets import as_bytes, upload
from test_execution import blocks, run
from test_pipelines import states

SALES = pd.DataFrame({"id": [1, 2, 3, 4], "amount": [5.0, -1.0, 7.5, 0.0]})


def text(run_out):
    return "".join(o.get("text", "") for o in run_out["outputs"] if o["output_type"] == "stream")


async def by_name(api, pid):
    r = await api("GET", f"projects/{pid}/datasets")
    assert r.status == 200, r.body
    return {d["name"]: d for d in r.body["items"]}


@pytest.mark.gateway
async def test_blocks_read_and_write_datasets_with_lineage(api):
    pid = await make_project(api)
    r = await upload(api, pid, "sales", as_bytes("csv", SALES), filename="sales.csv")
    sales_id = r.body["dataset"]["id"]
    clean, report, missing, swapped = await blocks(
        api,
        pid,
        'df = ain.load("sales")\nkept = df[df.amount > 0]\nain.save(kept, "clean_sales")',
        'print(len(ain.load("clean_sales")), ain.list())',
        'ain.load("nope")',
        'import pandas as pd\nain.save("clean_sales", pd.DataFrame({"a": [1]}))',
    )
    first = await run(api, pid, clean)
    assert first["status"] == "succeeded", first
    # The block's value reads as what was saved (a str: the version's sha256).
    shown = first["outputs"][0]["data"]["text/plain"]
    assert re.fullmatch(r"<saved 'clean_sales': 2 rows, 2 columns, sha256 [0-9a-f]{12}…>", shown)
    datasets = await by_name(api, pid)
    written = datasets["clean_sales"]["latest"]
    assert (written["number"], written["source"], written["format"]) == (1, "kernel", "parquet")
    assert written["row_count"] == 2
    assert written["created_by"] == "alice"
    assert [c["name"] for c in written["columns"]] == ["id", "amount"]

    second = await run(api, pid, report)
    assert second["status"] == "succeeded", second
    assert text(second) == "2 ['clean_sales', 'sales']\n"
    failed = await run(api, pid, missing)
    assert failed["status"] == "failed"
    assert "no dataset named 'nope'" in failed["message"]
    failed = await run(api, pid, swapped)  # pandas' to_parquet(path) order, by habit
    assert failed["status"] == "failed"
    assert (
        "needs a pandas DataFrame as frame, not str (the frame comes first)" in (failed["message"])
    )

    r = await api("GET", f"projects/{pid}/datasets/{sales_id}/lineage")
    assert r.status == 200, r.body
    assert [(x["run_id"], x["direction"], x["version"]) for x in r.body["runs"]] == [
        (first["id"], "read", 1)
    ]
    assert r.body["downstream"] == [
        {
            "run_id": first["id"],
            "dataset_id": datasets["clean_sales"]["id"],
            "dataset": "clean_sales",
            "version": 1,
        }
    ]
    clean_id = datasets["clean_sales"]["id"]
    r = await api("GET", f"projects/{pid}/datasets/{clean_id}/lineage")
    assert [(x["run_id"], x["direction"]) for x in r.body["runs"]] == [
        (first["id"], "write"),
        (second["id"], "read"),
    ]
    assert r.body["upstream"][0]["dataset"] == "sales"

    # Running the writer again with the same data records no new version.
    again = await run(api, pid, clean)
    assert again["status"] == "succeeded"
    assert (await by_name(api, pid))["clean_sales"]["latest"]["number"] == 1

    # A new version of what it read makes the block and its readers stale.
    assert (await states(api, pid))[clean] == "fresh"
    newer = pd.concat([SALES, SALES.assign(id=[5, 6, 7, 8])])
    await upload(api, pid, "sales", as_bytes("csv", newer), filename="sales.csv")
    after = await states(api, pid)
    assert after[clean] == "stale"
    rerun = await run(api, pid, clean)
    assert rerun["status"] == "succeeded"
    assert (await states(api, pid))[clean] == "fresh"
    latest = (await by_name(api, pid))["clean_sales"]["latest"]
    assert (latest["number"], latest["row_count"], latest["parent"]) == (2, 4, 1)


async def test_old_versions_load_by_number(api):
    pid = await make_project(api, bob="viewer")
    await upload(api, pid, "s", as_bytes("csv", SALES), filename="s.csv")
    await upload(api, pid, "s", as_bytes("csv", SALES.head(1)), filename="s.csv")
    (bid,) = await blocks(api, pid, 'print(len(ain.load("s", version=1)), len(ain.load("s")))')
    out = await run(api, pid, bid)
    assert text(out) == "4 1\n", out
    (bad,) = await blocks(api, pid, 'ain.load("s", version=9)')
    out = await run(api, pid, bad)
    assert "has no version 9" in out["message"]


async def test_parallel_pipelines_run_dataset_blocks_in_the_kernel(api):
    from test_parallel import pipeline

    pid = await make_project(api)
    await upload(api, pid, "s", as_bytes("csv", SALES), filename="s.csv")
    reader, other, third = await blocks(api, pid, 'a = ain.load("s")', "b = 1", "c = 2")
    out = await pipeline(api, pid, target="all", parallel=2)
    assert out["status"] == "succeeded", out
    where = {r["block_id"]: r["where"] for r in out["results"]}
    assert where[reader] == "project kernel"
    assert where[other] == where[third] == "forked worker"
    sid = (await by_name(api, pid))["s"]["id"]
    r = await api("GET", f"projects/{pid}/datasets/{sid}/lineage")
    assert [x["direction"] for x in r.body["runs"]] == ["read"]
