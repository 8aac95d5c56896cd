"""End to end: the AI Notebook sidebar panel in a real JupyterLab, driven by Chromium.

Starts ``jupyter lab`` with the extension on a SQLite database, opens the panel from the
left sidebar, creates a project through the UI, shows blocks of a project created via the
REST API, and checks that a server-side validation error is shown in the panel.

Needs Debian's Chromium at /usr/bin/chromium: skipped without it, unless
AINB_REQUIRE_BROWSER=1 (as in CI), which makes its absence a failure.
"""

from __future__ import annotations

import json
import os
import re
import uuid
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
EXPECTED_400 = re.compile(
    r"Failed to load resource: the server responded with a status of 400 .*"
    r"\[http://127\.0\.0\.1:\d+/ai-notebook/api/projects(\?\d*)?\]$"
)
PANEL_ID = "ai-notebook-panel"

# JupyterLab takes several seconds to load on a small machine; keep waits bounded.
SERVER_START_TIMEOUT = 120  # s
LAB_LOAD_TIMEOUT = 90_000  # ms
UI_TIMEOUT = 20_000  # ms


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
    return "ai-notebook" in text or PLUGIN_ID in text


def test_panel_in_jupyterlab(tmp_path: Path) -> None:
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    db_url = f"sqlite:///{tmp_path / 'ainb.db'}"
    lab_dir = tmp_path / "lab"
    # Don't ask about Jupyter news: the toast would cover part of the screenshot.
    notification = lab_dir / "user-settings/@jupyterlab/apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    server = ServerProcess(
        tmp_path,
        db_url,
        app="lab",
        extra_config={
            "LabApp": {
                # Fresh, empty workspace and settings: no saved layout interferes.
                "workspaces_dir": str(lab_dir / "workspaces"),
                "user_settings_dir": str(lab_dir / "user-settings"),
            }
        },
    )
    server.start(timeout=SERVER_START_TIMEOUT)
    console_errors: list[str] = []
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.set_default_timeout(UI_TIMEOUT)
                expect.set_options(timeout=UI_TIMEOUT)

                def on_console(msg: Any) -> None:
                    if msg.type == "error":
                        url = (msg.location or {}).get("url", "")
                        console_errors.append(f"{msg.text} [{url}]")

                page.on("console", on_console)
                page.on(
                    "pageerror",
                    lambda err: console_errors.append(f"uncaught: {err.message}\n{err.stack}"),
                )
                run_scenario(page, expect, server, tmp_path)
            finally:
                browser.close()
    except Exception as exc:
        errors = "\n".join(console_errors) or "(none)"
        pytest.fail(
            f"{type(exc).__name__}: {exc}\n"
            f"--- browser console errors ---\n{errors}\n"
            f"--- server log (tail) ---\n{log_tail(server)}"
        )
    finally:
        server.stop()

    # The deliberate 400 (too-long name) is logged by Chromium as a failed resource load;
    # any other console error mentioning the extension is a bug.
    ours = [e for e in console_errors if mentions_us(e) and not EXPECTED_400.match(e)]
    assert not ours, "console errors from the extension:\n" + "\n".join(ours)


def run_scenario(page: Any, expect: Any, server: ServerProcess, tmp_path: Path) -> None:
    page.goto(f"{server.url}lab?token={server.token}", timeout=LAB_LOAD_TIMEOUT)
    page.wait_for_selector("#jp-main-dock-panel", state="visible", timeout=LAB_LOAD_TIMEOUT)

    # Open our left-sidebar tab (the file browser is open by default).
    tab = page.locator(f'li[data-id="{PANEL_ID}"]')
    tab.wait_for(state="visible", timeout=LAB_LOAD_TIMEOUT)
    panel = page.locator(f"#{PANEL_ID}")
    if not panel.is_visible():
        tab.click()
    expect(panel).to_be_visible()
    expect(tab).to_have_class(_contains("lm-mod-current"))
    # Loaded lazily on first show: the empty state once the (empty) list arrives.
    expect(panel.locator(".ainb-projects-empty")).to_be_visible()

    # --- create a project through the UI
    name = f"Browser project {uuid.uuid4().hex[:8]}"
    panel.locator("input.ainb-new-project-name").fill(name)
    panel.locator("button.ainb-create-project").click()
    selected = panel.locator("ul.ainb-project-list li.ainb-project-item.ainb-selected")
    expect(selected).to_have_count(1)
    expect(selected.locator(".ainb-project-name")).to_have_text(name)
    expect(selected).to_have_attribute("aria-selected", "true")
    expect(panel.locator("input.ainb-new-project-name")).to_have_value("")
    blocks_empty = panel.locator(".ainb-blocks-empty")
    expect(blocks_empty).to_be_visible()
    expect(blocks_empty).to_have_text("This project has no blocks yet.")
    expect(panel.locator("div.ainb-block")).to_have_count(0)
    expect(panel.locator("div.ainb-error")).to_have_count(0)

    status, body = server.request("GET", "ai-notebook/api/projects")
    assert status == 200, body
    created = [p for p in body["items"] if p["name"] == name]
    assert len(created) == 1, body
    assert created[0]["role"] == "owner"
    assert selected.get_attribute("data-project-id") == str(created[0]["id"])

    shot = tmp_path / "ai-notebook-panel.png"
    page.screenshot(path=str(shot))
    assert shot.exists()
    assert shot.stat().st_size > 0

    # --- a project with blocks, made through the REST API, shown after a refresh
    other = f"REST project {uuid.uuid4().hex[:8]}"
    status, project = server.request("POST", "ai-notebook/api/projects", {"name": other})
    assert status == 201, project
    blocks = [{"source": "x = 1"}, {"kind": "markdown", "source": "# Title"}]
    status, added = server.request(
        "POST", f"ai-notebook/api/projects/{project['id']}/blocks/bulk", {"blocks": blocks}
    )
    assert status == 201, added

    panel.locator("button.ainb-refresh").click()
    item = panel.locator("ul.ainb-project-list li.ainb-project-item").filter(
        has=page.locator(".ainb-project-name", has_text=other)
    )
    expect(item).to_have_count(1)
    expect(panel.locator("ul.ainb-project-list li.ainb-project-item")).to_have_count(2)
    item.click()
    expect(item).to_have_class(_contains("ainb-selected"))
    expect(selected.locator(".ainb-project-name")).to_have_text(other)
    block_nodes = panel.locator("div.ainb-block-list div.ainb-block")
    expect(block_nodes).to_have_count(2)
    expect(block_nodes.locator("pre.ainb-block-source")).to_have_text(["x = 1", "# Title"])
    assert [block_nodes.nth(i).get_attribute("data-kind") for i in range(2)] == [
        "code",
        "markdown",
    ]
    expect(blocks_empty).to_have_count(0)

    # --- a server-side validation error (name longer than 200) is shown in the panel
    too_long = "n" * 201
    status, refused = server.request("POST", "ai-notebook/api/projects", {"name": too_long})
    assert status == 400, refused
    server_message = refused["error"]["message"]
    assert "name" in server_message, refused

    panel.locator("input.ainb-new-project-name").fill(too_long)
    panel.locator("button.ainb-create-project").click()
    error = panel.locator("div.ainb-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(server_message)
    # Nothing was created, the selection is unchanged and the input keeps the name.
    expect(panel.locator("ul.ainb-project-list li.ainb-project-item")).to_have_count(2)
    expect(selected.locator(".ainb-project-name")).to_have_text(other)
    expect(panel.locator("input.ainb-new-project-name")).to_have_value(too_long)
    status, body = server.request("GET", "ai-notebook/api/projects")
    assert status == 200, body
    assert body["total"] == 2, body
    # The final state (blocks and the error line), for looking at after a failure.
    page.screenshot(path=str(tmp_path / "ai-notebook-panel-error.png"))


def _contains(cls: str) -> re.Pattern[str]:
    """Match a class attribute that contains the class ``cls``."""
    return re.compile(rf"(^|\s){re.escape(cls)}(\s|$)")
