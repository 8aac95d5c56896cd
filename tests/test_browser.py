"""End to end: the AI Notebook sidebar panel in a real JupyterLab, driven by Chromium.

Starts ``jupyter lab`` with the extension on a SQLite database, opens the panel from the
left sidebar, creates a project through the UI, shows blocks of a project created via the
REST API, and checks that a server-side validation error is shown in the panel. A second
test runs blocks from the panel in the project's kernel: stream, HTML, error, live output
from events, image and long-text artifacts, outputs shown again after a reload, and a
kernel restart confirmed in JupyterLab's dialog.

Needs Debian's Chromium at /usr/bin/chromium: skipped without it, unless
AINB_REQUIRE_BROWSER=1 (as in CI), which makes its absence a failure.
"""

from __future__ import annotations

import json
import os
import re
import uuid
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
EXPECTED_400 = re.compile(
    r"Failed to load resource: the server responded with a status of 400 .*"
    r"\[http://127\.0\.0\.1:\d+/ai-notebook/api/projects(\?\d*)?\]$"
)
PANEL_ID = "ai-notebook-panel"

# The labextension as built in this checkout (`jlpm build` in labextension/). An editable
# install copied it into share/jupyter/labextensions once, at install time; JupyterLab uses
# the first extension of a name it finds, so serving the build first makes the tests see
# the current code instead of that copy.
BUILT_EXTENSION = Path(__file__).resolve().parents[1] / "ai_notebook_ext" / "labextension"


def built_extension_paths(tmp_path: Path) -> list[str]:
    """``LabApp.extra_labextensions_path`` serving the checkout's build, if there is one."""
    if not (BUILT_EXTENSION / "package.json").exists():
        return []
    # Files are served from <path>/<package name>/static/...
    path = tmp_path / "labextensions"
    path.mkdir(exist_ok=True)
    link = path / json.loads((BUILT_EXTENSION / "package.json").read_text())["name"]
    if not link.exists():
        link.symlink_to(BUILT_EXTENSION, target_is_directory=True)
    return [str(path)]


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
    with lab_page(tmp_path) as (page, expect, server, console_errors):
        run_scenario(page, expect, server, tmp_path)

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


# ------------------------------------------------------------------ running blocks

# A 1x1 PNG.
PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
    "AAAABJRU5ErkJggg=="
)
TEXT_LIMIT = 1000  # AINotebookApp.output_text_limit for the run test
RUN_SOURCES = [
    'print("hello from block")',
    "from IPython.display import HTML; HTML(\"<b id='ainb-html'>bold</b>\")",
    "1/0",
    # Slow enough to be seen running, with output before the end: live from events
    # (the panel's fallback poll of an active run is every 5 s).
    'import time\nprint("started", flush=True)\ntime.sleep(4)\nprint("finished")',
    # Binary data is stored as an artifact: the panel fetches it back for rendermime.
    f"import base64; from IPython.display import Image\nImage(data=base64.b64decode({PNG_1PX!r}))",
    # Longer than output_text_limit (TEXT_LIMIT): the run keeps the head, the artifact all.
    'print("\\n".join(f"line {i}" for i in range(400)))\nprint("end of long output")',
]
RUN_TIMEOUT = 60_000  # ms: the first run starts the project's kernel
# <b id='ainb-html'> as rendered untrusted: sanitized, the id kept as data-jupyter-id.
HTML_BOLD = "div.ainb-outputs b[data-jupyter-id='ainb-html']"


@contextmanager
def lab_page(
    tmp_path: Path,
    app_config: dict[str, Any] | None = None,
    lab_config: dict[str, Any] | None = None,
) -> Iterator[tuple[Any, Any, ServerProcess, list[str]]]:
    """A JupyterLab server with the extension and a Chromium page collecting console errors
    (``lab_config``: more LabApp settings, e.g. ``expose_app_in_browser``)."""
    require_chromium()
    from playwright.sync_api import expect, sync_playwright

    lab_dir = tmp_path / "lab"
    # Don't ask about Jupyter news: the toast would cover part of the screenshot.
    notification = lab_dir / "user-settings/@jupyterlab/apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    server = ServerProcess(
        tmp_path,
        f"sqlite:///{tmp_path / 'ainb.db'}",
        app="lab",
        extra_config={
            "LabApp": {
                "workspaces_dir": str(lab_dir / "workspaces"),
                "user_settings_dir": str(lab_dir / "user-settings"),
                "extra_labextensions_path": built_extension_paths(tmp_path),
                **(lab_config or {}),
            },
            "AINotebookApp": app_config or {},
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
                yield page, expect, server, console_errors
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


def open_panel(page: Any, expect: Any, server: ServerProcess) -> Any:
    page.goto(f"{server.url}lab?token={server.token}", timeout=LAB_LOAD_TIMEOUT)
    page.wait_for_selector("#jp-main-dock-panel", state="visible", timeout=LAB_LOAD_TIMEOUT)
    tab = page.locator(f'li[data-id="{PANEL_ID}"]')
    tab.wait_for(state="visible", timeout=LAB_LOAD_TIMEOUT)
    panel = page.locator(f"#{PANEL_ID}")
    if not panel.is_visible():
        tab.click()
    expect(panel).to_be_visible()
    return panel


def select_project(page: Any, expect: Any, panel: Any, name: str) -> None:
    item = panel.locator("ul.ainb-project-list li.ainb-project-item").filter(
        has=page.locator(".ainb-project-name", has_text=name)
    )
    item.click()
    expect(item).to_have_class(_contains("ainb-selected"))


def test_run_blocks_in_panel(tmp_path: Path) -> None:
    config = {"output_text_limit": TEXT_LIMIT}
    with lab_page(tmp_path, config) as (page, expect, server, console_errors):
        run_blocks_scenario(page, expect, server, tmp_path)
    ours = [e for e in console_errors if mentions_us(e)]
    assert not ours, "console errors from the extension:\n" + "\n".join(ours)


def run_blocks_scenario(page: Any, expect: Any, server: ServerProcess, tmp_path: Path) -> None:
    name = f"Run project {uuid.uuid4().hex[:8]}"
    status, project = server.request("POST", "ai-notebook/api/projects", {"name": name})
    assert status == 201, project
    pid = project["id"]
    status, added = server.request(
        "POST",
        f"ai-notebook/api/projects/{pid}/blocks/bulk",
        {
            "blocks": [{"source": s} for s in RUN_SOURCES]
            + [{"kind": "markdown", "source": "# Notes"}]
        },
    )
    assert status == 201, added
    ids = [b["id"] for b in added["items"]]

    panel = open_panel(page, expect, server)
    select_project(page, expect, panel, name)
    blocks = panel.locator("div.ainb-block-list div.ainb-block")
    expect(blocks).to_have_count(len(RUN_SOURCES) + 1)

    # The kernel bar: no kernel yet; editors get the controls.
    kernel = panel.locator("div.ainb-kernel")
    expect(kernel.locator(".ainb-kernel-state")).to_have_attribute("data-state", "not_started")
    expect(kernel.locator("button.ainb-kernel-restart")).to_be_visible()
    expect(kernel.locator("button.ainb-kernel-interrupt")).to_be_visible()

    # Markdown blocks have no run button; never-run code blocks have no status.
    markdown = panel.locator("div.ainb-block[data-kind=markdown]")
    expect(markdown.locator("button.ainb-run-block")).to_have_count(0)
    code = panel.locator("div.ainb-block[data-kind=code]")
    expect(code).to_have_count(len(RUN_SOURCES))
    expect(code.locator("button.ainb-run-block")).to_have_count(len(RUN_SOURCES))
    expect(code.first.locator(".ainb-run-status")).to_have_attribute("data-status", "none")

    def block(i: int) -> Any:
        return panel.locator(f'div.ainb-block[data-block-id="{ids[i]}"]')

    def run(i: int, final: str) -> Any:
        node = block(i)
        button = node.locator("button.ainb-run-block")
        expect(button).to_have_attribute("title", "Run block")
        button.click()
        expect(node.locator(".ainb-run-status")).to_have_attribute(
            "data-status", final, timeout=RUN_TIMEOUT
        )
        return node

    # --- stream output
    hello = run(0, "succeeded")
    expect(hello.locator("div.ainb-outputs")).to_contain_text("hello from block")
    expect(hello.locator(".ainb-exec-count")).to_have_text("[1]")
    expect(hello.locator("button.ainb-run-block")).to_be_enabled()
    expect(kernel.locator(".ainb-kernel-state")).to_have_attribute("data-state", "idle")

    # --- HTML through rendermime. Outputs are untrusted (a project's runs come from any of
    # its editors), so JupyterLab's sanitizer keeps the element but renames its id to
    # data-jupyter-id (no DOM clobbering); a trusted render would keep id="ainb-html".
    html = run(1, "succeeded")
    bold = html.locator(HTML_BOLD)
    expect(bold).to_have_text("bold")
    expect(html.locator("div.ainb-outputs [data-mime-type='text/html']")).to_have_count(1)

    # --- an exception: ANSI traceback rendered, the run failed
    error = run(2, "failed")
    outputs = error.locator("div.ainb-outputs")
    expect(outputs).to_contain_text("ZeroDivisionError")
    expect(outputs).to_contain_text("division by zero")
    expect(
        outputs.locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']")
    ).to_have_count(1)
    # ANSI colours became spans, not escape codes.
    assert "\x1b[" not in outputs.inner_text()
    expect(error.locator(".ainb-run-status")).to_have_text("Failed")

    # --- live: the status and the first output arrive by events while it runs
    slow = block(3)
    slow.locator("button.ainb-run-block").click()
    expect(slow.locator(".ainb-run-status")).to_have_attribute(
        "data-status", "running", timeout=RUN_TIMEOUT
    )
    expect(slow.locator("div.ainb-outputs")).to_contain_text("started", timeout=3_000)
    expect(slow.locator("div.ainb-outputs")).not_to_contain_text("finished")
    expect(slow.locator("button.ainb-run-block")).to_be_disabled()
    expect(slow.locator("button.ainb-cancel-run")).to_be_visible()
    expect(slow.locator(".ainb-run-status")).to_have_attribute(
        "data-status", "succeeded", timeout=RUN_TIMEOUT
    )
    expect(slow.locator("div.ainb-outputs")).to_contain_text("finished")
    expect(slow.locator("button.ainb-cancel-run")).to_be_hidden()

    # --- an image, stored as an artifact, fetched and rendered
    image = run(4, "succeeded")
    img = image.locator("div.ainb-outputs .jp-RenderedImage img")
    expect(img).to_have_count(1)
    assert img.get_attribute("src") == f"data:image/png;base64,{PNG_1PX}"

    # --- a long stream: the whole text comes back from its artifact
    long = run(5, "succeeded")
    expect(long.locator("div.ainb-outputs")).to_contain_text("end of long output")
    expect(long.locator("div.ainb-outputs")).to_contain_text("line 399")
    expect(panel.locator("div.ainb-error")).to_have_count(0)

    page.screenshot(path=str(tmp_path / "ai-notebook-run.png"))
    assert (tmp_path / "ai-notebook-run.png").stat().st_size > 0

    # The server agrees, and the blocks name their last runs.
    status, runs = server.request("GET", f"ai-notebook/api/projects/{pid}/runs")
    assert status == 200, runs
    assert [r["status"] for r in runs["items"]] == [
        "succeeded",
        "succeeded",
        "succeeded",
        "failed",
        "succeeded",
        "succeeded",
    ]
    image_run, long_run = runs["items"][1], runs["items"][0]
    assert "image/png" in image_run["outputs"][0]["artifacts"], image_run
    assert "image/png" not in image_run["outputs"][0]["data"], image_run
    assert long_run["outputs"][0]["artifacts"]["text/plain"]["truncated"], long_run
    assert "end of long output" not in long_run["outputs"][0]["text"], long_run

    # --- after a reload the last runs are shown again (from the blocks' last_run_id)
    page.reload(timeout=LAB_LOAD_TIMEOUT)
    panel = open_panel(page, expect, server)
    select_project(page, expect, panel, name)
    expect(block(0).locator("div.ainb-outputs")).to_contain_text("hello from block")
    expect(block(1).locator(HTML_BOLD)).to_have_text("bold")
    expect(block(2).locator(".ainb-run-status")).to_have_attribute("data-status", "failed")
    expect(block(2).locator("div.ainb-outputs")).to_contain_text("ZeroDivisionError")
    expect(block(4).locator("div.ainb-outputs .jp-RenderedImage img")).to_have_count(1)
    expect(block(5).locator("div.ainb-outputs")).to_contain_text("end of long output")

    # --- restart the kernel, confirmed in JupyterLab's dialog
    kernel = panel.locator("div.ainb-kernel")
    state = kernel.locator(".ainb-kernel-state")
    expect(state).to_have_attribute("data-state", "idle")
    expect(state).to_have_attribute("data-generation", "1")
    kernel.locator("button.ainb-kernel-restart").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Restart kernel?")
    dialog.locator("button.jp-mod-warn").click()
    expect(dialog).to_have_count(0)
    expect(state).to_have_attribute("data-generation", "2", timeout=RUN_TIMEOUT)
    expect(state).to_have_attribute("data-state", "idle")
    expect(kernel.locator(".ainb-kernel-message")).to_have_text("restarted on request")
    status, body = server.request("GET", f"ai-notebook/api/projects/{pid}/kernel")
    assert status == 200, body
    assert (body["state"], body["generation"]) == ("idle", 2), body
    # The new kernel has none of the old state.
    rerun = run(0, "succeeded")
    expect(rerun.locator(".ainb-exec-count")).to_have_text("[1]")
    expect(panel.locator("div.ainb-error")).to_have_count(0)
    page.screenshot(path=str(tmp_path / "ai-notebook-run-restarted.png"))
