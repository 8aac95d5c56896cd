"""Quality rules over REST: every kind, evaluation of each new version, results with the
upload, through events, and safe custom SQL."""

from __future__ import annotations

import asyncio
import json
import time

import pandas as pd
import pytest
from conftest import make_project
from test_api_datasets import as_bytes, upload

GOOD = pd.DataFrame(
    {"id": [1, 2, 3], "email": ["a@x.org", "b@x.org", "c@x.org"], "age": [30, 41, 25]}
)
BAD = pd.DataFrame({"id": [1, 1, 3], "email": ["a@x.org", "nope", None], "age": [30, 200, -1]})
RULES = [
    {"kind": "not_null", "column": "email"},
    {"kind": "unique", "column": "id"},
    {"kind": "range", "column": "age", "params": {"min": 0, "max": 120}},
    {"kind": "allowed_values", "column": "age", "params": {"values": [30, 41, 25]}},
    {"kind": "regex", "column": "email", "params": {"pattern": "[^@]+@[^@]+"}},
    {"kind": "row_count", "params": {"min": 1, "max": 1000}},
    {"kind": "sql", "params": {"predicate": "age < $limit", "params": {"limit": 100}}},
]


async def add_rules(api, pid, did):
    for rule in RULES:
        r = await api("POST", f"projects/{pid}/datasets/{did}/rules", json_body=rule)
        assert r.status == 201, (rule, r.body)


async def test_new_versions_are_checked_and_results_come_back(api, jp_ws_fetch):
    ws = await jp_ws_fetch(
        "api", "events", "subscribe", headers={"Authorization": "token token-alice"}
    )
    pid = await make_project(api)
    r = await upload(api, pid, "people", as_bytes("csv", GOOD), filename="p.csv")
    did = r.body["dataset"]["id"]
    assert r.body["version"]["quality"] is None  # no rules yet
    await add_rules(api, pid, did)
    r = await api("POST", f"projects/{pid}/datasets/{did}/versions/1/quality")
    assert r.status == 200, r.body
    assert r.body["passed"] is True
    assert [x["passed"] for x in r.body["results"]] == [True] * len(RULES)

    r = await upload(api, pid, "people", as_bytes("csv", BAD), filename="p.csv")
    assert r.status == 201, r.body
    quality = r.body["version"]["quality"]
    assert quality["passed"] is False
    by_kind = {x["kind"]: x for x in quality["results"]}
    assert by_kind["not_null"]["failing_rows"] == 1
    assert by_kind["unique"]["failing_rows"] == 2
    assert by_kind["unique"]["sample"] == [1]
    assert by_kind["range"]["failing_rows"] == 2
    assert sorted(by_kind["range"]["sample"]) == [-1, 200]
    assert by_kind["allowed_values"]["failing_rows"] == 2
    assert by_kind["regex"]["failing_rows"] == 1
    assert by_kind["regex"]["sample"] == ["nope"]
    assert by_kind["row_count"]["passed"] is True
    assert by_kind["sql"]["failing_rows"] == 1
    stored = await api("GET", f"projects/{pid}/datasets/{did}/versions/2")
    assert stored.body["quality"] == quality

    seen = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and len(seen) < 2:
        event = json.loads(await asyncio.wait_for(ws.read_message(), timeout=10))
        if event.get("schema_id", "").endswith("dataset-version/v1"):
            seen.append(event)
    ws.close()
    assert [(e["version"], e["quality_passed"]) for e in seen] == [(1, None), (2, False)]
    # a shared server's global bus names no columns (the project socket does)
    assert "unique" in seen[1]["quality_failed"]
    assert "unique id" not in seen[1]["quality_failed"]


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ({"kind": "not_null"}, "needs a column"),
        ({"kind": "row_count", "column": "x", "params": {"min": 1}}, "takes no column"),
        ({"kind": "range", "column": "x", "params": {}}, "min, max or both"),
        ({"kind": "range", "column": "x", "params": {"min": 5, "max": 1}}, "greater than max"),
        ({"kind": "range", "column": "x", "params": {"min": "a"}}, "must be a number"),
        ({"kind": "allowed_values", "column": "x", "params": {"values": []}}, "values must"),
        ({"kind": "regex", "column": "x", "params": {"pattern": ""}}, "pattern must"),
        ({"kind": "sql", "params": {"predicate": "1=1; DROP TABLE t"}}, "without ';'"),
        ({"kind": "sql", "params": {"predicate": "age <"}}, "Parser Error"),
        (
            {
                "kind": "sql",
                "params": {"predicate": "(SELECT count(*) FROM read_csv('/etc/passwd')) > 0"},
            },
            "disabled by configuration",
        ),
        ({"kind": "sql", "params": {"predicate": "x > $a", "params": {"a b": 1}}}, "identifier"),
        ({"kind": "frob", "column": "x"}, "kind"),
        ({"kind": "not_null", "column": "x", "params": {"extra": 1}}, "no parameter(s) extra"),
    ],
)
async def test_bad_rules_get_400_and_are_not_stored(api, rule, fragment):
    pid = await make_project(api)
    did = (await upload(api, pid, "p", as_bytes("csv", GOOD), filename="p.csv")).body["dataset"][
        "id"
    ]
    r = await api("POST", f"projects/{pid}/datasets/{did}/rules", json_body=rule)
    assert r.status == 400, r.body
    assert fragment in json.dumps(r.error)
    assert (await api("GET", f"projects/{pid}/datasets/{did}/rules")).body["items"] == []


async def test_rules_need_editors_and_report_missing_columns(api):
    pid = await make_project(api, bob="viewer")
    did = (await upload(api, pid, "p", as_bytes("csv", GOOD), filename="p.csv")).body["dataset"][
        "id"
    ]
    rule = {"kind": "not_null", "column": "phone"}
    r = await api("POST", f"projects/{pid}/datasets/{did}/rules", json_body=rule, user="bob")
    assert r.status == 403
    r = await api("POST", f"projects/{pid}/datasets/{did}/rules", json_body=rule)
    assert r.status == 201
    rid = r.body["id"]
    assert (await api("GET", f"projects/{pid}/datasets/{did}/rules", user="bob")).status == 200
    r = await api("POST", f"projects/{pid}/datasets/{did}/versions/1/quality")
    assert r.body["results"][0]["message"] == "column 'phone' does not exist in this version"
    r = await api("DELETE", f"projects/{pid}/datasets/{did}/rules/{rid}", user="bob")
    assert r.status == 403
    assert (await api("DELETE", f"projects/{pid}/datasets/{did}/rules/{rid}")).status == 204
    assert (await api("DELETE", f"projects/{pid}/datasets/{did}/rules/{rid}")).status == 404


async def test_rules_are_checked_only_for_editors_and_numbers_must_be_finite(api):
    pid = await make_project(api)
    did = (await upload(api, pid, "p", as_bytes("csv", GOOD), filename="p.csv")).body["dataset"][
        "id"
    ]
    bad_sql = {"kind": "sql", "params": {"predicate": "this is not sql"}}
    r = await api("POST", f"projects/{pid}/datasets/{did}/rules", json_body=bad_sql, user="dave")
    assert r.status == 404  # a stranger learns nothing, not even the parser's opinion
    r = await api("POST", f"projects/{pid + 1}/datasets/{did}/rules", json_body=bad_sql)
    assert r.status == 404
    for raw in (
        '{"kind": "range", "column": "age", "params": {"min": NaN}}',
        '{"kind": "range", "column": "age", "params": {"max": Infinity}}',
        '{"kind": "range", "column": "age", "params": {"min": 1e400}}',
    ):
        r = await api("POST", f"projects/{pid}/datasets/{did}/rules", raw=raw)
        assert r.status == 400, (raw, r.body)
        assert "JSON" in r.error["message"]
    sneaky = {"kind": "sql", "params": {"predicate": "true), false) UNION ALL SELECT 1 --"}}
    r = await api("POST", f"projects/{pid}/datasets/{did}/rules", json_body=sneaky)
    assert r.status == 400
    assert "comments" in r.error["message"]
    unbalanced = {"kind": "sql", "params": {"predicate": "true), (false"}}
    r = await api("POST", f"projects/{pid}/datasets/{did}/rules", json_body=unbalanced)
    assert r.status == 400
    assert "unbalanced" in r.error["message"]
    assert (await api("GET", f"projects/{pid}/datasets/{did}/rules")).body["items"] == []


async def test_a_rule_is_replaced_in_place_by_editors_only(api):
    pid = await make_project(api, bob="viewer")
    did = (await upload(api, pid, "p", as_bytes("csv", BAD), filename="p.csv")).body["dataset"][
        "id"
    ]
    rules = f"projects/{pid}/datasets/{did}/rules"
    r = await api("POST", rules, json_body={"kind": "range", "column": "age", "params": {"min": 0}})
    rid = r.body["id"]
    sql = {"kind": "sql", "params": {"predicate": "age <= $top", "params": {"top": 150}}}
    assert (await api("PUT", f"{rules}/{rid}", json_body=sql, user="bob")).status == 403
    assert (await api("PUT", f"{rules}/{rid}", json_body=sql, user="dave")).status == 404
    bad = {"kind": "sql", "params": {"predicate": "age <= 1; DROP TABLE t"}}
    r = await api("PUT", f"{rules}/{rid}", json_body=bad)
    assert r.status == 400, r.body
    assert (await api("PUT", f"{rules}/{rid + 1}", json_body=sql)).status == 404
    unchanged = (await api("GET", rules)).body["items"]
    assert [(x["id"], x["kind"], x["params"]) for x in unchanged] == [(rid, "range", {"min": 0})]

    r = await api("PUT", f"{rules}/{rid}", json_body=sql)
    assert r.status == 200, r.body
    assert (r.body["id"], r.body["kind"], r.body["column"]) == (rid, "sql", None)
    assert (await api("GET", rules)).body["items"] == [r.body]
    r = await api("POST", f"projects/{pid}/datasets/{did}/versions/1/quality")
    [result] = r.body["results"]
    assert (result["rule_id"], result["kind"], result["failing_rows"]) == (rid, "sql", 1)
    assert len(result["sample"]) == 1
