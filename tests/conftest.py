"""Fixtures: a Jupyter server with the extension on SQLite or a real PostgreSQL server.

Every test that uses ``api`` runs twice: against a SQLite file and against a database
on a throwaway PostgreSQL server that this test session starts and stops itself.

Tests marked ``@pytest.mark.gateway`` run a third time: on SQLite with the server in
gateway mode (``GatewayClient.url``), its kernels on a real Jupyter Enterprise Gateway
that this session starts (``gateway_server.py``).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from gateway_server import GatewayServer, find_gateway
from identity import RecordingAuthorizer, TokenUsers, auth
from pg_server import PostgresServer, find_pg_bin

pytest_plugins = ["pytest_jupyter.jupyter_server"]

REQUIRE_POSTGRES = os.environ.get("AINB_REQUIRE_POSTGRES") == "1"
REQUIRE_GATEWAY = os.environ.get("AINB_REQUIRE_GATEWAY") == "1"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (skipped if PostgreSQL is not installed,
    unless AINB_REQUIRE_POSTGRES=1 as in CI)."""
    if find_pg_bin() is None:
        if REQUIRE_POSTGRES:
            pytest.fail("PostgreSQL binaries not found and AINB_REQUIRE_POSTGRES=1")
        pytest.skip("PostgreSQL binaries not found (install postgresql or set AINB_PG_BIN)")
    server = PostgresServer().start()
    yield server
    server.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "gateway: also run on an Enterprise Gateway's kernels (SQLite only)"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``kernel_host`` is "local" (unparametrized) for every test; tests marked
    ``gateway`` run on "local" and "gateway", those marked ``gateway(only=True)`` on
    "gateway" only."""
    mark = metafunc.definition.get_closest_marker("gateway")
    if mark is not None and "kernel_host" in metafunc.fixturenames:
        hosts = ["gateway"] if mark.kwargs.get("only") else ["local", "gateway"]
        metafunc.parametrize("kernel_host", hosts, indirect=True)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The gateway run is on SQLite only: the database does not change kernel handling."""
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        bad = params.get("kernel_host") == "gateway" and params.get("db_url") != "sqlite"
        (drop if bad else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(scope="session")
def gateway_server() -> Iterator[GatewayServer]:
    """An Enterprise Gateway for the whole session (skipped if it is not installed, unless
    AINB_REQUIRE_GATEWAY=1 as in CI)."""
    if find_gateway() is None:
        if REQUIRE_GATEWAY:
            pytest.fail("jupyter-enterprise-gateway not found and AINB_REQUIRE_GATEWAY=1")
        pytest.skip("jupyter-enterprise-gateway not found (scripts/test installs it in .venv-eg)")
    server = GatewayServer().start()
    yield server
    server.stop()


@pytest.fixture
def kernel_host(request: pytest.FixtureRequest) -> Iterator[str]:
    """Where project kernels run: "local" or "gateway" (see pytest_generate_tests).
    Jupyter's GatewayClient is a process-wide singleton: cleared around each test so that
    each server configures its own."""
    from jupyter_server.gateway.gateway_client import GatewayClient

    GatewayClient.clear_instance()
    yield getattr(request, "param", "local")
    GatewayClient.clear_instance()


@pytest.fixture
def gateway_config(kernel_host: str, request: pytest.FixtureRequest) -> dict[str, Any]:
    """The server settings of the test's kernel host."""
    if kernel_host != "gateway":
        return {}
    server: GatewayServer = request.getfixturevalue("gateway_server")
    return {"GatewayClient": {"url": server.url, "request_timeout": 60.0}}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh, empty database URL on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ainb.db'}"
        return
    server: PostgresServer = request.getfixturevalue("pg_server")
    name = "t_" + uuid.uuid4().hex[:16]
    url = server.create_database(name)
    yield url
    server.drop_database(name)


@pytest.fixture
def extension_config() -> dict[str, Any]:
    """Extra AINotebookApp settings; override in a test module to change them."""
    return {}


@pytest.fixture
def jp_server_config(
    db_url: str, tmp_path: Any, extension_config: dict[str, Any], gateway_config: dict[str, Any]
) -> dict:
    return {
        **gateway_config,
        "ServerApp": {
            "jpserver_extensions": {"ai_notebook_ext": True},
            "identity_provider_class": TokenUsers,
            "authorizer_class": RecordingAuthorizer,
        },
        "AINotebookApp": {
            "database_url": db_url,
            "data_dir": str(tmp_path / "ainb-data"),
            "admin_users": ["root"],
            "gc_tuning": False,  # the test process is shared: keep its collector as is
            **extension_config,
        },
    }


@dataclass
class Response:
    status: int
    body: Any
    headers: Any
    raw: bytes = b""

    @property
    def error(self) -> dict[str, Any]:
        """The error object, after checking the body has exactly the documented shape."""
        assert isinstance(self.body, dict), self.body
        assert set(self.body) == {"error"}, self.body
        error = self.body["error"]
        assert set(error) == {"code", "message", "details"}, error
        assert isinstance(error["message"], str)
        assert error["message"]
        return error


Api = Callable[..., Awaitable[Response]]


async def make_project(api: Api, name: str = "demo", user: str = "alice", **members: str) -> int:
    """Create a project as ``user`` and add ``members`` (username=role); return its id."""
    r = await api("POST", "projects", user=user, json_body={"name": name})
    assert r.status == 201, r.body
    pid = r.body["id"]
    for username, role in members.items():
        r = await api(
            "POST",
            f"projects/{pid}/members",
            user=user,
            json_body={"username": username, "role": role},
        )
        assert r.status == 201, r.body
    return int(pid)


@pytest.fixture
def api(jp_fetch: Any, jp_serverapp: Any, jp_asyncio_loop: Any) -> Iterator[Api]:
    """``await api("POST", "projects", user="alice", json={...})`` -> Response.

    After the test the extension is stopped (runs ended, kernels shut down) while its
    database still exists: pytest-jupyter's own cleanup runs only after ``db_url`` is gone.
    """

    async def call(
        method: str,
        path: str,
        *,
        user: str | None = "alice",
        json_body: Any = None,
        raw: bytes | str | None = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        body = (
            raw if raw is not None else (json.dumps(json_body) if json_body is not None else None)
        )
        if body is None and method in ("POST", "PATCH", "PUT"):
            body = ""
        resp = await jp_fetch(
            "ai-notebook",
            "api",
            *path.strip("/").split("/"),
            method=method,
            body=body,
            headers={**auth(user), "Content-Type": "application/json", **(headers or {})},
            params=params,
            raise_error=False,
            allow_nonstandard_methods=True,
        )
        raw_body = resp.body or b""
        kind = resp.headers.get("Content-Type", "application/json")
        is_json = kind.startswith("application/json")
        parsed = json.loads(raw_body.decode()) if raw_body and is_json else None
        return Response(resp.code, parsed, resp.headers, raw_body)

    yield call
    for app in jp_serverapp.extension_manager.extension_apps.get("ai_notebook_ext", ()):
        jp_asyncio_loop.run_until_complete(app.stop_extension())


def _pg_version() -> str | None:
    """The PostgreSQL server's version line, from its binary: with pytest-xdist the
    servers run in the workers, not in the process that writes the summary."""
    pg_bin = find_pg_bin()
    if pg_bin is None:
        return None
    try:
        done = subprocess.run(
            [str(pg_bin / "postgres"), "--version"], capture_output=True, text=True, timeout=10
        )
    except OSError:
        return None
    return done.stdout.strip() or None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say how many tests ran on each database backend, so CI output shows the PostgreSQL run."""
    counts: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if report.when not in ("call", "setup") or (
                outcome == "passed" and report.when != "call"
            ):
                continue
            for backend in ("sqlite", "postgresql"):
                if f"[{backend}" in report.nodeid or f"-{backend}]" in report.nodeid:
                    per = counts.setdefault(backend, {})
                    per[outcome] = per.get(outcome, 0) + 1
            if "-gateway]" in report.nodeid:
                per = counts.setdefault("kernels on Enterprise Gateway", {})
                per[outcome] = per.get(outcome, 0) + 1
    if counts:
        terminalreporter.section("database backends")
        version = _pg_version() if "postgresql" in counts else None
        if version:
            terminalreporter.write_line(f"{version} (started by this run)")
        for backend, per in sorted(counts.items()):
            summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(per.items()))
            terminalreporter.write_line(f"{backend}: {summary}")


@pytest.fixture
def server() -> Iterator[Any]:
    """A scripted local server speaking the AI providers' wire protocols."""
    from ai_server import ScriptedServer

    with ScriptedServer() as running:
        yield running
