"""A display shown by one cell and updated by a later block's run changes the earlier
cell's output live in JupyterLab, as it does in a plain notebook (Chromium, real server).
"""

from __future__ import annotations

from pathlib import Path

from browser import RUN_TIMEOUT, chromium, lab_server, mentions_us, run_command

# A 1x1 PNG: the update's image reaches the earlier cell from the artifact store.
PNG_1PX = (
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9aw"
    "AAAABJRU5ErkJggg=="
)


def test_a_later_run_updates_an_earlier_cells_display(tmp_path: Path) -> None:
    go = tmp_path / "go"
    sources = [
        'h = display({"text/plain": "first value"}, raw=True, display_id="live")',
        f'h.update({{"image/png": {PNG_1PX!r}, "text/plain": "second value"}}, raw=True)\n'
        "import os, time\n"
        f"while not os.path.exists({str(go)!r}):\n"
        "    time.sleep(0.05)\n"
        'print("updater done")',
    ]
    with lab_server(tmp_path) as server, chromium(server) as browser:
        from playwright.sync_api import expect

        page = browser.page()
        status, project = server.request("POST", "ai-notebook/api/projects", {"name": "Displays"})
        assert status == 201, project
        pid = project["id"]
        status, body = server.request(
            "POST",
            f"ai-notebook/api/projects/{pid}/blocks/bulk",
            {"blocks": [{"source": s} for s in sources]},
        )
        assert status == 201, body
        shows, updates = (b["id"] for b in body["items"])
        run_command(page, "ai-notebook:open-project", {"projectId": pid})
        cells = page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell")
        expect(cells).to_have_count(2)
        first = cells.nth(0).locator(".jp-OutputArea")
        cells.nth(0).locator(".cm-content").click()
        page.keyboard.press("Control+Enter")
        expect(first).to_have_text("first value", timeout=RUN_TIMEOUT)

        # The later block runs elsewhere (the API, as another tab or the agent would) and
        # stays running until told: the earlier cell changes while it runs.
        status, run = server.request(
            "POST", f"ai-notebook/api/projects/{pid}/blocks/{updates}/execute"
        )
        assert status in (200, 202), run
        expect(first.locator("img")).to_be_attached(timeout=RUN_TIMEOUT)
        assert not go.exists()
        status, now = server.request("GET", f"ai-notebook/api/projects/{pid}/runs/{run['id']}")
        assert now["status"] in ("queued", "running"), now  # still running: it was live
        go.write_text("")
        second = cells.nth(1).locator(".jp-OutputArea")
        expect(second).to_contain_text("updater done", timeout=RUN_TIMEOUT)
        expect(first.locator("img")).to_be_attached()
        expect(first).not_to_contain_text("first value")
        status, block = server.request("GET", f"ai-notebook/api/projects/{pid}/blocks/{shows}")
        assert status == 200, block

    ours = [e for e in browser.console_errors if mentions_us(e)]
    assert not ours, "console errors from the extension:\n" + "\n".join(ours)
