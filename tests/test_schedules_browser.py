"""The Schedules view in JupyterLab (real server, Chromium): add with a validation error
shown, see the next run, pause, delete."""

from __future__ import annotations

from pathlib import Path

from browser import chromium, lab_server, mentions_us, run_command, screenshot


def test_add_pause_and_delete_schedules(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    with lab_server(tmp_path) as server, chromium(server) as browser:
        api = "ai-notebook/api/projects"
        status, project = server.request("POST", api, {"name": "Nightly"})
        assert status == 201, project
        pid = project["id"]
        status, made = server.request(
            "POST",
            f"{api}/{pid}/blocks/bulk",
            {"blocks": [{"source": "import time"}, {"source": "print(time.time())"}]},
        )
        assert status == 201, made
        second = made["items"][1]["id"]

        page = browser.page(width=1700, height=900)
        run_command(page, "ai-notebook:open-project", {"projectId": pid})
        page.evaluate("window.jupyterapp.shell.collapseLeft()")
        page.locator(".ainb-tb-schedules").click()
        view = page.locator(".ainb-schedules")
        expect(view).to_be_visible()
        expect(view.locator(".ainb-empty")).to_contain_text("no schedules yet")

        form = view.locator("form.ainb-schedule-form")
        # A bad cron: the server's message under the form, nothing added.
        form.locator(".ainb-schedule-cron-input").fill("61 * * * *")
        form.locator(".ainb-schedule-tz").fill("UTC")
        form.locator(".ainb-schedule-add").click()
        expect(form.locator(".ainb-schedule-error")).to_contain_text("out of range")
        expect(view.locator(".ainb-schedule")).to_have_count(0)

        form.locator(".ainb-schedule-cron-input").fill("*/10 * * * *")
        form.locator(".ainb-schedule-add").click()
        rows = view.locator(".ainb-schedule")
        expect(rows).to_have_count(1)
        expect(form.locator(".ainb-schedule-error")).to_have_text("")
        form.locator(".ainb-schedule-cron-input").fill("0 3 * * *")
        form.locator(".ainb-schedule-target").select_option("block")
        form.locator(".ainb-schedule-block").select_option(str(second))
        form.locator(".ainb-schedule-add").click()
        expect(rows).to_have_count(2)

        status, listed = server.request("GET", f"{api}/{pid}/schedules")
        assert status == 200, listed
        every, nightly = listed["items"]
        assert (every["cron"], every["target"]) == ("*/10 * * * *", "pipeline")
        assert (nightly["target"], nightly["block_id"]) == ("block", second)
        first_row = view.locator(f'.ainb-schedule[data-schedule-id="{every["id"]}"]')
        next_run = first_row.locator(".ainb-schedule-next")
        expect(next_run.locator(".ainb-schedule-relative")).to_contain_text("in ")
        expect(next_run).to_have_attribute("title", f"{every['next_run_at']} (UTC)")
        assert next_run.locator(".ainb-schedule-absolute").inner_text().strip()
        second_row = view.locator(f'.ainb-schedule[data-schedule-id="{nightly["id"]}"]')
        expect(second_row.locator(".ainb-schedule-target-label")).to_contain_text(
            f"block {second}: print(time.time())"
        )
        screenshot(page, "schedules", tmp_path)

        # Pause the first: the server has it disabled, the row says paused.
        first_row.locator(".jp-switch").click()
        expect(first_row.locator(".ainb-schedule-next")).to_have_text("paused")
        status, got = server.request("GET", f"{api}/{pid}/schedules/{every['id']}")
        assert got["enabled"] is False
        assert got["next_run_at"] is None

        # Delete the second, confirmed in a dialog.
        second_row.locator(".ainb-schedule-delete").click()
        page.locator(".jp-Dialog button.jp-mod-warn").click()
        expect(rows).to_have_count(1)
        status, listed = server.request("GET", f"{api}/{pid}/schedules")
        assert [s["id"] for s in listed["items"]] == [every["id"]]
        ours = [e for e in browser.console_errors if mentions_us(e) and "(Bad Request)" not in e]
        assert ours == [], ours
