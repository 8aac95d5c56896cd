"""Throwaway PostgreSQL server for the test session.

Runs ``initdb`` into a temporary directory and starts ``postgres`` on a free loopback
TCP port with trust authentication and durability turned off (fast, disposable).

PostgreSQL refuses to run as root. When this process is root, the temporary directory
is chowned to the ``postgres`` system user and ``initdb``/``pg_ctl`` run through
``runuser -u postgres --``. If no ``postgres`` user exists, a system user named
``ainb-pg`` is created for it (``useradd --system --no-create-home``); it is left in
place afterwards. As a non-root user the binaries run directly.

Usage::

    with PostgresServer() as pg:
        url = pg.create_database("t1")  # postgresql+psycopg://postgres@127.0.0.1:PORT/t1

Manual smoke check: ``python tests/pg_server.py``.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import LiteralString

__all__ = ["FALLBACK_PG_USER", "PostgresError", "PostgresServer", "find_pg_bin"]

#: System user created (as root) when no ``postgres`` user exists.
FALLBACK_PG_USER = "ainb-pg"
SUPERUSER = "postgres"
HOST = "127.0.0.1"

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
_SERVER_OPTIONS = (
    "-c listen_addresses={host} -F -c fsync=off -c full_page_writes=off -c synchronous_commit=off"
)
_CMD_TIMEOUT = 120.0


class PostgresError(RuntimeError):
    """PostgreSQL could not be found, initialised, started or used."""


def _has_tools(bin_dir: Path) -> bool:
    return (bin_dir / "initdb").is_file() and (bin_dir / "pg_ctl").is_file()


def _version_key(path: Path) -> tuple[int, ...]:
    # /usr/lib/postgresql/<version>/bin -> (15,) or (9, 6)
    return tuple(int(p) for p in re.findall(r"\d+", path.parent.name)) or (0,)


def find_pg_bin() -> Path | None:
    """Return the PostgreSQL bin directory, or None if none is installed.

    Order: ``$AINB_PG_BIN``; the newest ``/usr/lib/postgresql/*/bin`` with ``initdb``
    and ``pg_ctl``; the directory of ``initdb`` on ``PATH``.
    """
    env = os.environ.get("AINB_PG_BIN")
    if env:
        return Path(env)
    candidates = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if _has_tools(p)]
    if candidates:
        return max(candidates, key=_version_key)
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _ensure_system_user() -> str:
    """As root: return ``postgres`` if it exists, else create and return the fallback."""
    for name in (SUPERUSER, FALLBACK_PG_USER):
        try:
            pwd.getpwnam(name)
            return name
        except KeyError:
            pass
    proc = subprocess.run(
        [
            "useradd",
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            FALLBACK_PG_USER,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    try:  # a concurrent process (e.g. another xdist worker) may have won the race
        pwd.getpwnam(FALLBACK_PG_USER)
    except KeyError:
        raise PostgresError(
            f"could not create system user {FALLBACK_PG_USER!r}: {proc.stderr.strip()}"
        ) from None
    return FALLBACK_PG_USER


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as exc:
        return f"<no log: {exc}>"


class PostgresServer:
    """A disposable PostgreSQL server; use as a context manager or call start()/stop()."""

    def __init__(self, bin_dir: Path | str | None = None) -> None:
        self.bin_dir: Path | None = Path(bin_dir) if bin_dir is not None else find_pg_bin()
        self.port: int | None = None
        self.base_dir: Path | None = None
        self.timings: dict[str, float] = {}
        self._run_as: str | None = None

    # -- paths -------------------------------------------------------------------------
    @property
    def data_dir(self) -> Path:
        return self._base() / "data"

    @property
    def socket_dir(self) -> Path:
        return self._base() / "sock"

    @property
    def log_path(self) -> Path:
        return self._base() / "postgres.log"

    @property
    def running(self) -> bool:
        return self.port is not None

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` database."""
        return self.url_for(SUPERUSER)

    def url_for(self, dbname: str) -> str:
        """SQLAlchemy URL (``postgresql+psycopg``) of database ``dbname``."""
        return f"postgresql+psycopg://{SUPERUSER}@{HOST}:{self._port()}/{dbname}"

    def conninfo(self, dbname: str = SUPERUSER) -> str:
        """libpq connection string for plain psycopg."""
        return f"host={HOST} port={self._port()} user={SUPERUSER} dbname={dbname}"

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> PostgresServer:
        """initdb + start; no-op if already running. Raises PostgresError on failure."""
        if self.running:
            return self
        if self.bin_dir is None:
            raise PostgresError(
                "PostgreSQL binaries not found: set AINB_PG_BIN or install postgresql"
            )
        if not _has_tools(self.bin_dir):
            raise PostgresError(f"no initdb/pg_ctl in {self.bin_dir}")
        self._run_as = _ensure_system_user() if os.geteuid() == 0 else None
        self.base_dir = Path(tempfile.mkdtemp(prefix="ainb-pg-"))
        atexit.register(self.stop)
        try:
            self._init_and_start()
        except BaseException:
            self.stop()
            raise
        return self

    def _init_and_start(self) -> None:
        base = self._base()
        self.socket_dir.mkdir()
        if self._run_as is not None:
            for path in (base, self.socket_dir):
                shutil.chown(path, user=self._run_as, group=pwd.getpwnam(self._run_as).pw_gid)

        t0 = time.perf_counter()
        proc = self._run(
            "initdb",
            "-D",
            self.data_dir,
            "-U",
            SUPERUSER,
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        )
        self.timings["initdb"] = time.perf_counter() - t0
        if proc.returncode != 0:
            raise PostgresError(f"initdb failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}")

        t0 = time.perf_counter()
        for attempt in range(3):  # the free port can be taken between probe and bind
            port = _free_port()
            options = f"-k {shlex.quote(str(self.socket_dir))} -p {port} " + (
                _SERVER_OPTIONS.format(host=HOST)
            )
            proc = self._run(
                "pg_ctl",
                "-D",
                self.data_dir,
                "-l",
                self.log_path,
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            )
            if proc.returncode == 0:
                self.port = port
                self.timings["start"] = time.perf_counter() - t0
                return
            log = _tail(self.log_path)
            if "could not bind" not in log or attempt == 2:
                raise PostgresError(
                    f"pg_ctl start failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}\n"
                    f"--- tail of {self.log_path} ---\n{log}"
                )

    def stop(self) -> None:
        """Fast shutdown and remove the temporary directory; safe to call repeatedly."""
        atexit.unregister(self.stop)
        base = self.base_dir
        if base is None:
            return
        try:
            if (self.data_dir / "postmaster.pid").exists():
                t0 = time.perf_counter()
                proc = self._run("pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "stop")
                if proc.returncode != 0:
                    self._run("pg_ctl", "-D", self.data_dir, "-m", "immediate", "-w", "stop")
                self.timings["stop"] = time.perf_counter() - t0
        finally:
            self.port = None
            self.base_dir = None
            shutil.rmtree(base, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases ---------------------------------------------------------------------
    def create_database(self, name: str) -> str:
        """Create database ``name`` and return its SQLAlchemy URL."""
        self._admin("CREATE DATABASE {}", name)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` if it exists, disconnecting its sessions."""
        self._admin("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    # -- helpers -----------------------------------------------------------------------
    def _admin(self, template: LiteralString, name: str) -> None:
        if not _NAME_RE.match(name):  # keeps the returned URL valid without escaping
            raise ValueError(f"invalid database name {name!r}")
        import psycopg  # lazily: the module must import without psycopg
        from psycopg import sql

        with psycopg.connect(self.conninfo(), autocommit=True) as conn:
            conn.execute(sql.SQL(template).format(sql.Identifier(name)))

    def _base(self) -> Path:
        if self.base_dir is None:
            raise PostgresError("server is not started")
        return self.base_dir

    def _port(self) -> int:
        if self.port is None:
            raise PostgresError("server is not started")
        return self.port

    def _run(self, tool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
        assert self.bin_dir is not None
        argv = [str(self.bin_dir / tool), *map(str, args)]
        if self._run_as is not None:
            argv = ["runuser", "-u", self._run_as, "--", *argv]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        return subprocess.run(
            argv,
            cwd=self._base(),
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=_CMD_TIMEOUT,
        )

    def __repr__(self) -> str:
        where = f"{HOST}:{self.port}" if self.port else "stopped"
        return f"<PostgresServer {where} bin={self.bin_dir}>"


if __name__ == "__main__":
    import psycopg

    t_all = time.perf_counter()
    with PostgresServer() as pg:
        print(f"bin: {pg.bin_dir}  url: {pg.url}  run as: {pg._run_as or 'self'}")
        with psycopg.connect(pg.conninfo()) as conn:
            row = conn.execute("SELECT version()").fetchone()
            print(row[0] if row else "?")
        url = pg.create_database("smoke_db")
        pg.drop_database("smoke_db")
        print(f"create/drop database ok ({url})")
        server = pg
    total = time.perf_counter() - t_all
    print(
        "timings: "
        + ", ".join(f"{k} {v:.3f}s" for k, v in server.timings.items())
        + f", total {total:.3f}s"
    )
