"""Schemathesis over the served OpenAPI document: the server and its document agree.

A real server (a subprocess, SQLite) with a project holding blocks, a run with an
artifact, an explicit edge, a dataset with a version and a quality rule, an agent
conversation, another member and (when the route exists) a disabled schedule. Every
operation of the served document (whatever routes exist when this runs) gets a bounded
number of generated requests, positive and negative, half of them with those real ids in
the path so the requests reach past the 404s. The test fails on
any server error, undocumented status code or content type, or a response that does not
match its documented schema; all failures are collected and reported together.

Nothing is excluded. The checks are those that hold for this API: negative_data_rejection
does not, by design: unknown query parameters are ignored (as by Jupyter's own API), and
the requests it builds without the token header get the token back from this test (it
must reach the server authenticated), so it would flag valid requests. Operations run in
document order, DELETEs last (deepest paths first), so the seeded resources live while the
other operations use them. Execute
endpoints run code in the project's one real kernel; generated code is tiny or invalid.
Hypothesis is derandomized (same examples each run) and does not shrink (every request
goes to a real server; the failing request is reported as a curl command instead).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import requests
from server_process import ServerProcess, tracebacks

schemathesis = pytest.importorskip("schemathesis")
# Bodies that are files (bundle imports: application/zip) are bytes like octet-stream.
schemathesis.serializer.alias("application/zip", "application/octet-stream")
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

API = "ai-notebook/api"
EXAMPLES = int(os.environ.get("AINB_SCHEMATHESIS_EXAMPLES", "12"))  # per operation, per mode
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
MODES = ("positive", "negative")


class Client:
    """The seeding client: JSON calls to the API with the server's token."""

    def __init__(self, server: ServerProcess) -> None:
        self.base = server.url + API + "/"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"token {server.token}"

    def call(self, method: str, path: str, expect: int, **kwargs: Any) -> Any:
        r = self.session.request(method, self.base + path, timeout=120, **kwargs)
        assert r.status_code == expect, (method, path, r.status_code, r.text)
        return r.json() if r.content and "json" in r.headers.get("Content-Type", "") else None


def seed(client: Client) -> dict[str, str]:
    """Real resources to aim at: path parameter name -> an id that exists."""
    pid = client.call("POST", "projects", 201, json={"name": "schemathesis"})["id"]
    blocks = [
        client.call("POST", f"projects/{pid}/blocks", 201, json={"source": source})["id"]
        for source in ("x = 1\nprint('x' * 300000)", "y = x + 1", "z = 3")
    ]
    client.call("POST", f"projects/{pid}/blocks", 201, json={"kind": "markdown", "source": "# Hi"})
    run = client.call("POST", f"projects/{pid}/blocks/{blocks[0]}/execute?wait=true", 200)
    artifact = next(
        spec["id"] for output in run["outputs"] for spec in output.get("artifacts", {}).values()
    )
    edge = client.call(
        "POST", f"projects/{pid}/edges", 201, json={"source": blocks[0], "target": blocks[2]}
    )["id"]
    dataset = client.call(
        "POST",
        f"projects/{pid}/datasets/upload?name=numbers&filename=numbers.csv",
        201,
        data=b"a,b\n1,x\n2,y\n3,z\n",
        headers={"Content-Type": "application/octet-stream"},
    )
    did = dataset["dataset"]["id"]
    rule = client.call(
        "POST",
        f"projects/{pid}/datasets/{did}/rules",
        201,
        json={"kind": "not_null", "column": "a"},
    )["id"]
    conversation = client.call("POST", f"projects/{pid}/agent/conversations", 201, json={})["id"]
    # Member requests aim at another member: demoting the caller would refuse the rest.
    member = {"username": "bob", "role": "editor"}
    client.call("POST", f"projects/{pid}/members", 201, json=member)
    ids = {}
    paths = client.call("GET", "openapi.json", 200)["paths"]
    if "/ai-notebook/api/projects/{project_id}/schedules" in paths:  # when schedules exist
        schedule = {"cron": "0 0 1 1 *", "target": "pipeline", "enabled": False}
        ids["schedule_id"] = str(
            client.call("POST", f"projects/{pid}/schedules", 201, json=schedule)["id"]
        )
    return ids | {
        "project_id": str(pid),
        "block_id": str(blocks[1]),
        "run_id": str(run["id"]),
        "artifact_id": artifact,
        "edge_id": str(edge),
        "dataset_id": str(did),
        "number": "1",
        "rule_id": str(rule),
        "conversation_id": str(conversation),
        "username": "bob",
        "name": "generate_code",
    }


def ordered(schema: Any) -> list[Any]:
    """The document's operations: DELETEs last, the deepest paths' first."""
    ops = [result.ok() for result in schema.get_all_operations()]
    keep = [op for op in ops if op.method.lower() != "delete"]
    deletes = sorted(
        (op for op in ops if op.method.lower() == "delete"),
        key=lambda op: -op.path.count("/"),
    )
    return keep + deletes


def exercise(
    op: Any, mode: str, ids: dict[str, str], base_url: str, token: str, seen: dict[str, set[int]]
) -> list[str]:
    """Generated requests to one operation; the failures found (deduplicated). ``seen``
    collects the statuses each operation answered."""
    from schemathesis import GenerationMode
    from schemathesis.core.failures import FailureGroup

    generation = GenerationMode.POSITIVE if mode == "positive" else GenerationMode.NEGATIVE
    names = re.findall(r"\{(\w+)\}", op.path)
    real = {n: ids[n] for n in names if n in ids}
    strategy = op.as_strategy(generation)
    if real:
        strategy = st.one_of(strategy, op.as_strategy(generation, path_parameters=real))
    found: dict[str, str] = {}
    headers = {"Authorization": f"token {token}"}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case: Any) -> None:
        try:
            response = case.call(base_url=base_url, headers=headers, timeout=120)
            seen.setdefault(op.label, set()).add(response.status_code)
            case.validate_response(response, checks=CHECKS, headers=headers)
        except FailureGroup as group:
            for failure in group.exceptions:
                found.setdefault(failure.title, f"{failure.title}: {failure.message}\n{case!r}")
        except requests.RequestException as exc:
            found.setdefault(type(exc).__name__, f"{exc!r}\n{case!r}")

    run()
    return [f"{mode} {op.label}: {text}" for text in found.values()]


@pytest.fixture
def served(tmp_path: Path) -> Any:
    server = ServerProcess(tmp_path, f"sqlite:///{tmp_path / 'ainb.db'}").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(1200)
def test_server_agrees_with_its_openapi_document(served: ServerProcess) -> None:
    ids = seed(Client(served))
    # The served document, as a dict: from_url would leave out the document's own GET.
    document = Client(served).call("GET", "openapi.json", 200)
    schema = schemathesis.openapi.from_dict(document)
    base_url = served.url.rstrip("/")
    operations = ordered(schema)
    documented = {f"{m.upper()} {p}" for p, item in document["paths"].items() for m in item}
    assert {op.label for op in operations} == documented
    failures: list[str] = []
    seen: dict[str, set[int]] = {}
    for op in operations:
        for mode in MODES:
            failures += exercise(op, mode, ids, base_url, served.token, seen)
    for label, statuses in seen.items():
        print(label, sorted(statuses))
    report = "\n\n".join(failures)
    assert not failures, f"{len(failures)} failures:\n\n{report}"
    errors = tracebacks(served.log())
    assert not errors, "the server logged exceptions:\n\n" + "\n\n".join(errors)
    assert json.dumps(ids)
