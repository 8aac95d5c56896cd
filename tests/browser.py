"""Shared helpers of the browser tests: a JupyterLab server with the checkout's build of
the labextension, Debian's Chromium through Python Playwright, pages signed in as users.

Needs Chromium at /usr/bin/chromium: tests are skipped without it, unless
AINB_REQUIRE_BROWSER=1 (as in CI), which makes its absence a failure.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from server_process import ServerProcess

CHROMIUM = Path("/usr/bin/chromium")
REQUIRE_BROWSER = os.environ.get("AINB_REQUIRE_BROWSER") == "1"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PLUGIN_ID = "ai-notebook-ext:plugin"
PANEL_ID = "ai-notebook-panel"
TESTS_DIR = Path(__file__).resolve().parent
SCREENSHOTS = TESTS_DIR.parent / "docs" / "screenshots"

# The labextension as built in this checkout (`jlpm build` in labextension/). An editable
# install copied it into share/jupyter/labextensions once, at install time; JupyterLab uses
# the first extension of a name it finds, so serving the build first makes the tests see
# the current code instead of that copy.
BUILT_EXTENSION = TESTS_DIR.parent / "ai_notebook_ext" / "labextension"

# JupyterLab takes several seconds to load on a small machine; keep waits bounded.
SERVER_START_TIMEOUT = 120  # s
LAB_LOAD_TIMEOUT = 90_000  # ms
UI_TIMEOUT = 20_000  # ms
RUN_TIMEOUT = 60_000  # ms: the first run starts the project's kernel


def built_extension_paths(tmp_path: Path) -> list[str]:
    """``LabApp.extra_labextensions_path`` serving the checkout's build, if there is one."""
    if not (BUILT_EXTENSION / "package.json").exists():
        return []
    path = tmp_path / "labextensions"
    path.mkdir(exist_ok=True)
    link = path / json.loads((BUILT_EXTENSION / "package.json").read_text())["name"]
    if not link.exists():
        link.symlink_to(BUILT_EXTENSION, target_is_directory=True)
    return [str(path)]


def require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)"
    if REQUIRE_BROWSER:
        pytest.fail(f"{reason} and AINB_REQUIRE_BROWSER=1")
    pytest.skip(reason)


def log_tail(server: ServerProcess, lines: int = 60) -> str:
    return "\n".join(server.log().splitlines()[-lines:])


def mentions_us(text: str) -> bool:
    return "ai-notebook" in text or "ai_notebook" in text or PLUGIN_ID in text


@contextmanager
def lab_server(
    tmp_path: Path,
    app_config: dict[str, Any] | None = None,
    multi_user: bool = False,
) -> Iterator[ServerProcess]:
    """``jupyter lab`` with the extension on SQLite; ``multi_user`` signs users in by
    ``?token=token-<name>`` (tests/identity.py) with ``single_user`` off and
    ProjectAuthorizer installed."""
    require_chromium()
    lab_dir = tmp_path / "lab"
    # Don't ask about Jupyter news: the toast would cover part of the screenshots.
    notification = lab_dir / "user-settings/@jupyterlab/apputils-extension"
    notification.mkdir(parents=True, exist_ok=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    extra: dict[str, dict[str, Any]] = {
        "LabApp": {
            "workspaces_dir": str(lab_dir / "workspaces"),
            "user_settings_dir": str(lab_dir / "user-settings"),
            "extra_labextensions_path": built_extension_paths(tmp_path),
            "expose_app_in_browser": True,
        },
        "AINotebookApp": dict(app_config or {}),
    }
    token = "secret-token"
    if multi_user:
        token = "token-alice"
        extra["ServerApp"] = {
            "identity_provider_class": "identity.TokenUsers",
            # the recommended shared server: Jupyter's kernel APIs follow project roles
            "authorizer_class": "ai_notebook_ext.auth.ProjectAuthorizer",
        }
        # No server token in the page: JupyterLab would send it on every request, and a
        # token wins over the login cookie, making every browser the same user. Each
        # page signs in with its own ?token=token-<name> and keeps that user's cookie.
        extra["IdentityProvider"] = {"token": ""}
        extra["AINotebookApp"]["single_user"] = False
        path = os.environ.get("PYTHONPATH", "")
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), path) if p)
    server = ServerProcess(
        tmp_path, f"sqlite:///{tmp_path / 'ainb.db'}", app="lab", token=token, extra_config=extra
    )
    server.start(timeout=SERVER_START_TIMEOUT)
    try:
        yield server
    finally:
        server.stop()


class Browser:
    """A headless Chromium; ``page(user)`` opens JupyterLab in a fresh context (own
    cookies) and records console errors."""

    def __init__(self, pw: Any, server: ServerProcess) -> None:
        self.server = server
        self.browser = pw.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        self.console_errors: list[str] = []

    def blank_page(self, width: int = 1400, height: int = 900) -> Any:
        """A page in a fresh context recording console errors, not yet navigated."""
        from playwright.sync_api import expect

        context = self.browser.new_context(viewport={"width": width, "height": height})
        page = context.new_page()
        page.set_default_timeout(UI_TIMEOUT)
        expect.set_options(timeout=UI_TIMEOUT)

        def on_console(msg: Any) -> None:
            if msg.type == "error":
                url = (msg.location or {}).get("url", "")
                self.console_errors.append(f"{msg.text} [{url}]")

        page.on("console", on_console)
        page.on(
            "pageerror",
            lambda err: self.console_errors.append(f"uncaught: {err.message}\n{err.stack}"),
        )
        return page

    def page(self, token: str | None = None, width: int = 1400, height: int = 900) -> Any:
        """JupyterLab signed in with ``token``, once our commands are registered."""
        page = self.blank_page(width, height)
        page.goto(
            f"{self.server.url}lab?token={token or self.server.token}", timeout=LAB_LOAD_TIMEOUT
        )
        page.wait_for_selector("#jp-main-dock-panel", state="visible", timeout=LAB_LOAD_TIMEOUT)
        page.wait_for_function(
            "() => window.jupyterapp && window.jupyterapp.commands.hasCommand("
            "'ai-notebook:open-project')",
            timeout=LAB_LOAD_TIMEOUT,
        )
        return page

    def close(self) -> None:
        self.browser.close()


@contextmanager
def chromium(server: ServerProcess) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = Browser(pw, server)
        try:
            yield browser
        except Exception as exc:
            errors = "\n".join(browser.console_errors) or "(none)"
            pytest.fail(
                f"{type(exc).__name__}: {exc}\n"
                f"--- browser console errors ---\n{errors}\n"
                f"--- server log (tail) ---\n{log_tail(server)}"
            )
        finally:
            browser.close()


def run_command(page: Any, command: str, args: dict[str, Any]) -> Any:
    """Execute a JupyterLab command in the page and return its result."""
    return page.evaluate("([c, a]) => window.jupyterapp.commands.execute(c, a)", [command, args])


def wait_for_saved_tab(server: ServerProcess, name: str) -> None:
    """Until the saved JupyterLab workspace (saved a moment after a change, and shared
    by the server's users) has the main-area tab ``name``, e.g. ``ai-notebook-dag:3``."""
    deadline = time.monotonic() + 30
    layout: Any = {}
    while time.monotonic() < deadline:
        status, workspace = server.request("GET", "lab/api/workspaces/default")
        layout = workspace.get("data", {}).get("layout-restorer:data", {}) if status == 200 else {}
        if name in json.dumps(layout.get("main", {})):
            return
        time.sleep(0.2)
    raise AssertionError(f"{name} is not in the saved layout: {layout}")


def screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    """Save a screenshot to the test's folder, and to docs/screenshots/ when
    AINB_SCREENSHOTS=1 (how the README's pictures are made)."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path))
    if os.environ.get("AINB_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))
    return path


@contextmanager
def lab_page(
    tmp_path: Path,
    app_config: dict[str, Any] | None = None,
    lab_config: dict[str, Any] | None = None,
) -> Iterator[tuple[Any, Any, ServerProcess, list[str]]]:
    """A lab server and a blank page: ``(page, expect, server, console_errors)``.
    (``lab_config`` is accepted for older callers; the app is always exposed.)"""
    from playwright.sync_api import expect

    with lab_server(tmp_path, app_config) as server, chromium(server) as browser:
        yield browser.blank_page(), expect, server, browser.console_errors
