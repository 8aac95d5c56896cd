"""Project bundles from JupyterLab's sidebar: Export saves a project's zip, Import
bundle sends a chosen zip and opens the new project (real JupyterLab, Chromium)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from browser import PANEL_ID, chromium, lab_server


def test_export_and_import_from_the_sidebar(tmp_path: Path) -> None:
    with lab_server(tmp_path) as server, chromium(server) as browser:
        from playwright.sync_api import expect

        status, project = server.request("POST", "ai-notebook/api/projects", {"name": "Sales"})
        assert status == 201, project
        status, _ = server.request(
            "POST", f"ai-notebook/api/projects/{project['id']}/blocks", {"source": "x = 1"}
        )
        assert status == 201
        page = browser.page()
        page.locator(f'li[data-id="{PANEL_ID}"]').click()
        panel = page.locator(f"#{PANEL_ID}")
        item = panel.locator(f'li.ainb-project-item[data-project-id="{project["id"]}"]')
        item.hover()  # the actions show on hover
        with page.expect_download() as download:
            item.locator(".ainb-project-export").click()
        saved = tmp_path / download.value.suggested_filename
        download.value.save_as(saved)
        assert saved.name == "Sales.ainb.zip"
        with zipfile.ZipFile(saved) as archive:
            assert {"manifest.json", "project.json"} <= set(archive.namelist())

        with page.expect_file_chooser() as chooser:
            panel.locator("button.ainb-import-bundle").click()
        chooser.value.set_files(str(saved))
        expect(panel.locator("li.ainb-project-item")).to_have_count(2)
        _, projects = server.request("GET", "ai-notebook/api/projects")
        new = max(p["id"] for p in projects["items"])
        tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab", has_text="Sales")
        expect(tab).to_be_visible()
        _, blocks = server.request("GET", f"ai-notebook/api/projects/{new}/blocks")
        assert [b["source"] for b in blocks["items"]] == ["x = 1"]

        # a file that is not a bundle: the server's reason shows in the sidebar
        junk = tmp_path / "junk.zip"
        junk.write_bytes(b"not a zip")
        with page.expect_file_chooser() as chooser:
            panel.locator("button.ainb-import-bundle").click()
        chooser.value.set_files(str(junk))
        expect(panel.locator(".ainb-error")).to_contain_text("not a zip")
        expect(panel.locator("li.ainb-project-item")).to_have_count(2)
