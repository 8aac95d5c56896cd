"""Throwaway Jupyter Enterprise Gateway for the test session.

``jupyter-enterprise-gateway`` needs jupyter-client<7 and jupyter-server<2, so it lives in
its own venv, ``.venv-eg`` at the repository root (``scripts/test`` creates it;
``$AINB_EG_VENV`` names another). The gateway listens on a free loopback port, with one
kernelspec of its own in a temporary directory: ``ai-notebook-python``, launched by EG's
local process proxy with this interpreter (the one running the tests, where
ai_notebook_ext is installed) and our kernel extension loaded, as our packaged kernelspec
does. Kernels inherit this process's environment (``PYTHONPATH`` included), so a
worktree's code runs in them.

Usage::

    with GatewayServer() as eg:
        eg.url  # http://127.0.0.1:PORT, for --GatewayClient.url

Manual smoke check: ``python tests/gateway_server.py``.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from types import TracebackType

__all__ = ["KERNEL_NAME", "GatewayError", "GatewayServer", "find_gateway"]

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
KERNEL_NAME = "ai-notebook-python"  # AINotebookApp.kernel_name's default
LOCAL_PROXY = "enterprise_gateway.services.processproxies.processproxy.LocalProcessProxy"
START_TIMEOUT = 60.0
# Enterprise Gateway 3.3 (Jupyter Server 1.x) leaves Nagle's algorithm on for its kernel
# websockets: a message written while the previous one is unacknowledged waits for the
# client's delayed ACK (up to 40 ms on Linux). This config turns it off (``nodelay``).
NODELAY_CONFIG = """\
from jupyter_server.services.kernels import handlers as _handlers

_open = _handlers.ZMQChannelsHandler.open


def _open_without_nagle(self, kernel_id):
    self.set_nodelay(True)
    return _open(self, kernel_id)


_handlers.ZMQChannelsHandler.open = _open_without_nagle
"""


class GatewayError(RuntimeError):
    """The gateway could not be found or started."""


def find_gateway() -> Path | None:
    """The ``jupyter-enterprisegateway`` script of the gateway venv, or None."""
    venv = Path(os.environ.get("AINB_EG_VENV") or ROOT / ".venv-eg")
    script = venv / "bin" / "jupyter-enterprisegateway"
    return script if script.is_file() else None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def write_kernelspec(kernels_dir: Path, python: str = sys.executable) -> Path:
    """Our kernelspec as a gateway runs it: this interpreter, EG's local process proxy."""
    spec_dir = kernels_dir / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    packaged = ROOT / "ai_notebook_ext" / "kernelspec" / KERNEL_NAME / "kernel.json"
    spec = json.loads(packaged.read_text())
    spec["argv"] = [python, *spec["argv"][1:]]  # "python" -> the tests' interpreter
    spec["metadata"] = {
        **spec.get("metadata", {}),
        "process_proxy": {"class_name": LOCAL_PROXY},
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=2))
    return spec_dir


class GatewayServer:
    """A disposable Enterprise Gateway; use as a context manager or call start()/stop()."""

    def __init__(self, script: Path | None = None, nodelay: bool = False) -> None:
        self.script = script or find_gateway()
        self.nodelay = nodelay
        self.port: int | None = None
        self.base_dir: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.startup_seconds = 0.0

    @property
    def url(self) -> str:
        if self.port is None:
            raise GatewayError("gateway is not started")
        return f"http://{HOST}:{self.port}"

    @property
    def log_path(self) -> Path:
        if self.base_dir is None:
            raise GatewayError("gateway is not started")
        return self.base_dir / "gateway.log"

    def start(self) -> GatewayServer:
        if self.process is not None:
            return self
        if self.script is None:
            raise GatewayError("jupyter-enterprise-gateway not found: run scripts/test once")
        self.base_dir = Path(tempfile.mkdtemp(prefix="ainb-eg-"))
        atexit.register(self.stop)
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        base = self.base_dir
        assert base is not None
        assert self.script is not None
        write_kernelspec(base / "data" / "kernels")
        (base / "config").mkdir()
        if self.nodelay:
            (base / "config" / "jupyter_enterprise_gateway_config.py").write_text(NODELAY_CONFIG)
        self.port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTER")}
        env.update(
            JUPYTER_PATH=str(base / "data"),
            JUPYTER_DATA_DIR=str(base / "data"),
            JUPYTER_CONFIG_DIR=str(base / "config"),
            JUPYTER_RUNTIME_DIR=str(base / "runtime"),
            JUPYTER_PLATFORM_DIRS="1",
        )
        argv = [
            str(self.script),
            f"--ip={HOST}",
            f"--port={self.port}",
            "--port_retries=0",
            f"--EnterpriseGatewayApp.default_kernel_name={KERNEL_NAME}",
            f"--EnterpriseGatewayApp.allowed_kernels={KERNEL_NAME}",
            "--KernelSpecManager.ensure_native_kernel=False",
            # Its default refuses kernels to root (CI runs as root).
            "--EnterpriseGatewayApp.unauthorized_users=nobody-at-all",
            "--EnterpriseGatewayApp.list_kernels=True",  # for /api/kernels and culling
            # Notice a dead kernel within a second, as the local restarter does.
            "--KernelRestarter.time_to_dead=1.0",
        ]
        started = time.monotonic()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                argv,
                cwd=base,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # stop() ends the gateway and its kernels together
            )
        deadline = started + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise GatewayError(f"gateway exited ({self.process.returncode}):\n{self._tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/kernelspecs", timeout=2) as r:
                    specs = json.loads(r.read())
                if KERNEL_NAME in specs.get("kernelspecs", {}):
                    self.startup_seconds = time.monotonic() - started
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise GatewayError(f"gateway did not answer in {START_TIMEOUT:g} s:\n{self._tail()}")

    def _tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except (OSError, GatewayError) as exc:
            return f"<no log: {exc}>"

    def stop(self) -> None:
        """Stop the gateway and its kernels, remove the directory; safe to call again."""
        atexit.unregister(self.stop)
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=15)
            except ProcessLookupError:
                pass
        base, self.base_dir = self.base_dir, None
        self.port = None
        if base is not None:
            shutil.rmtree(base, ignore_errors=True)

    def __enter__(self) -> GatewayServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<GatewayServer {self.url if self.port else 'stopped'}>"


if __name__ == "__main__":
    with GatewayServer() as eg:
        print(f"gateway {eg.url} up in {eg.startup_seconds:.2f} s")
        with urllib.request.urlopen(f"{eg.url}/api/kernelspecs", timeout=5) as r:
            print(sorted(json.loads(r.read())["kernelspecs"]))
