"""A project's tabs follow the project, in a real JupyterLab driven by Chromium.

A rename by another member retitles the open tabs (notebook, datasets, schedules, DAG),
and a reload restores the notebook under its new name;
removing a member closes that member's tabs; deleting the project closes every tab of
it (notebook, datasets, block history, DAG) with one notice, and a reload does not bring
back a tab of the deleted project that keeps reconnecting.
"""

from __future__ import annotations

from pathlib import Path

from browser import (
    LAB_LOAD_TIMEOUT,
    chromium,
    lab_server,
    mentions_us,
    run_command,
    wait_for_saved_tab,
)
from test_workspace_browser import as_user, blocks_as, cells, new_project


def tab(page, text: str):
    return page.locator("#jp-main-dock-panel .lm-TabBar-tab", has_text=text)


def test_tabs_follow_rename_removal_and_deletion(tmp_path: Path) -> None:
    with lab_server(tmp_path, multi_user=True) as server, chromium(server) as browser:
        from playwright.sync_api import expect

        pid = new_project(server, ["x = 1", "y = x + 1"], user="alice")
        for user, role in (("bob", "editor"), ("carol", "viewer")):
            as_user(
                server,
                "alice",
                "POST",
                f"ai-notebook/api/projects/{pid}/members",
                {"username": user, "role": role},
            )
        block = blocks_as(server, "alice", pid)[0]["id"]

        # Alice removes Carol: Carol's notebook closes, and she is told why.
        carol = browser.page("token-carol")
        run_command(carol, "ai-notebook:open-project", {"projectId": pid})
        expect(cells(carol)).to_have_count(2)
        as_user(server, "alice", "DELETE", f"ai-notebook/api/projects/{pid}/members/carol")
        expect(cells(carol)).to_have_count(0)
        expect(carol.locator(".Toastify__toast", has_text="you were removed")).to_have_count(1)
        carol.context.close()  # users share the server's "default" workspace

        bob = browser.page("token-bob")
        run_command(bob, "ai-notebook:open-project", {"projectId": pid})
        expect(cells(bob)).to_have_count(2)
        run_command(bob, "ai-notebook:open-datasets", {"projectId": pid})
        run_command(bob, "ai-notebook:open-schedules", {"projectId": pid})
        run_command(bob, "ai-notebook:open-dag", {"projectId": pid})
        run_command(bob, "ai-notebook:open-history", {"projectId": pid, "blockId": block})
        expect(tab(bob, "Datasets · Shared")).to_have_count(1)
        expect(tab(bob, "Schedules · Shared")).to_have_count(1)
        expect(tab(bob, "DAG · Shared")).to_have_count(1)
        expect(tab(bob, "History · x = 1")).to_have_count(1)
        wait_for_saved_tab(server, "ai-notebook-history:")

        # Alice renames the project: Bob's tabs follow, and a reload brings the
        # notebook back under its new name (its new path is in the saved layout).
        as_user(server, "alice", "PATCH", f"ai-notebook/api/projects/{pid}", {"name": "Sales"})
        expect(tab(bob, "Datasets · Sales")).to_have_count(1)
        expect(tab(bob, "Schedules · Sales")).to_have_count(1)
        expect(tab(bob, "DAG · Sales")).to_have_count(1)
        wait_for_saved_tab(server, f"notebook:AINotebook:{pid}/Sales")
        bob.reload(timeout=LAB_LOAD_TIMEOUT)
        expect(tab(bob, "Datasets · Sales")).to_have_count(1, timeout=LAB_LOAD_TIMEOUT)
        tab(bob, "Sales").first.click()
        expect(cells(bob)).to_have_count(2)
        expect(tab(bob, "DAG · Sales")).to_have_count(1)
        expect(tab(bob, "Schedules · Sales")).to_have_count(1)
        expect(tab(bob, "History · x = 1")).to_have_count(1)
        # ... with what an editor may do (their role is asked of the server)
        expect(bob.locator("form.ainb-schedule-form")).to_have_count(1)

        # Alice deletes the project: every tab of it closes in Bob's browser, one notice.
        as_user(server, "alice", "DELETE", f"ai-notebook/api/projects/{pid}")
        expect(cells(bob)).to_have_count(0)
        for title in ("Datasets", "Schedules", "DAG", "History"):
            expect(tab(bob, title)).to_have_count(0)
        expect(bob.locator(".Toastify__toast", has_text="project was deleted:")).to_have_count(1)

        # A Datasets tab of a project deleted while the page was away (restored by the
        # layout restorer after a reload) closes instead of reconnecting forever.
        other = new_project(server, ["z = 3"], user="alice")
        as_user(
            server,
            "alice",
            "POST",
            f"ai-notebook/api/projects/{other}/members",
            {"username": "bob", "role": "editor"},
        )
        run_command(bob, "ai-notebook:open-datasets", {"projectId": other})
        expect(tab(bob, "Datasets · Shared")).to_have_count(1)
        wait_for_saved_tab(server, f"ai-notebook-datasets:{other}")
        bob.goto("about:blank")
        as_user(server, "alice", "DELETE", f"ai-notebook/api/projects/{other}")
        bob.goto(f"{server.url}lab", timeout=LAB_LOAD_TIMEOUT)
        bob.wait_for_selector("#jp-main-dock-panel", state="visible", timeout=LAB_LOAD_TIMEOUT)
        expect(bob.locator(".Toastify__toast", has_text="you were removed")).to_have_count(1)
        expect(tab(bob, "Datasets")).to_have_count(0)

    # The restored tab's one refused upgrade (and its REST check) are expected 404s.
    expected = ("(Not Found)", "Unexpected response code: 404")
    ours = [
        e
        for e in browser.console_errors
        if mentions_us(e) and not any(text in e for text in expected)
    ]
    assert not ours, "console errors from the extension:\n" + "\n".join(ours)
