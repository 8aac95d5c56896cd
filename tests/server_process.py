"""Run a real ``jupyter server`` (or ``jupyter lab``) process with the extension for a test."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

TRACEBACK = re.compile(r"Traceback \(most recent call last\):\n(?:[ \t].*\n)*.*")


def tracebacks(log: str) -> list[str]:
    """The tracebacks in a server log, less a kernel's own noise while it stops: kernels
    write to the server's stderr, and ipykernel may flush to a socket it already closed
    (``ZMQError: Socket operation on non-socket``). A traceback through our code counts."""
    return [t for t in TRACEBACK.findall(log) if "/ipykernel/" not in t or "ai_notebook_ext" in t]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """A Jupyter server subprocess on a free loopback port with a known token."""

    popen_options: dict[str, Any] = {}  # extra subprocess.Popen arguments for subclasses

    def __init__(
        self,
        workdir: Path,
        db_url: str,
        app: str = "server",
        token: str = "secret-token",
        extra_config: dict[str, dict[str, Any]] | None = None,
    ):
        self.workdir = workdir
        self.port = free_port()
        self.token = token
        self.url = f"http://127.0.0.1:{self.port}/"
        self.log_path = workdir / f"{app}-{self.port}.log"
        root = workdir / "root"
        root.mkdir(exist_ok=True)
        config = {
            "ServerApp": {
                "port": self.port,
                "ip": "127.0.0.1",
                "open_browser": False,
                "allow_root": True,
                "root_dir": str(root),
                "jpserver_extensions": {"ai_notebook_ext": True},
            },
            "IdentityProvider": {"token": token},
            "AINotebookApp": {"database_url": db_url, "data_dir": str(workdir / "data")},
            "LabApp": {
                "news_url": None,
                "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
            },
        }
        # Merged per section: {"LabApp": {...}} adds to (or overrides) LabApp's settings.
        for section, values in (extra_config or {}).items():
            config.setdefault(section, {}).update(values)
        self.config_path = workdir / "jupyter_config.json"
        self.config_path.write_text(json.dumps(config))
        self.command = [sys.executable, "-m", f"jupyter{'lab' if app == 'lab' else '_server'}"]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> ServerProcess:
        env = {**os.environ, "JUPYTER_PLATFORM_DIRS": "1"}
        env["JUPYTER_RUNTIME_DIR"] = str(self.workdir / "runtime")
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [*self.command, f"--config={self.config_path}"],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env=env,
            **self.popen_options,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.log()}")
            try:
                status, _ = self.request("GET", "api/status")
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"server did not start in {timeout} s:\n{self.log()}")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM and wait: the server shuts down its extensions cleanly."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> int:
        """SIGKILL and wait: a crash, nothing is cleaned up."""
        assert self.proc is not None
        self.proc.kill()
        return self.proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Authorization", f"token {self.token}")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                text = resp.read().decode()
                return resp.status, json.loads(text) if text else None
        except urllib.error.HTTPError as err:
            text = err.read().decode()
            return err.code, json.loads(text) if text else None
