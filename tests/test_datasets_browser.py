"""The datasets panel in a real JupyterLab, used as a data scientist would: a CSV dropped
on the panel uploads with a progress bar, then its profile shows with histograms; the
full report opens in a tab after its progress; a range rule and a SQL rule with a
parameter are added in the form and fail on a bad second version, with failing counts
and sample rows; "Insert loading block" adds `listings = ain.load("listings")` to the project, whose
run then shows in the lineage graph, and the graph's run node jumps to the block."""

from __future__ import annotations

import io
import re
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from browser import RUN_TIMEOUT, chromium, lab_server, run_command, screenshot

NAME = "listings"
CITIES = ["Berlin", "Paris", "Lisbon", "Madrid", "Rome", "Vienna", "Prague"]
REPORT_TIMEOUT = 180_000  # ms: the profiling library imports and works on a small machine


def listings(rows: int, seed: int, bad: bool = False) -> str:
    """A housing-listings CSV with the usual mess: missing prices, duplicated rows."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "id": np.arange(1, rows + 1),
            "city": rng.choice(CITIES, rows, p=[0.3, 0.2, 0.15, 0.12, 0.1, 0.08, 0.05]),
            "price": np.round(rng.lognormal(7, 0.4, rows), 2),
            "rooms": rng.integers(1, 6, rows),
            "listed": pd.Timestamp("2025-01-01")
            + pd.to_timedelta(rng.integers(0, 330, rows), unit="D"),
        }
    )
    frame.loc[rng.choice(rows, rows // 50, replace=False), "price"] = np.nan
    if bad:
        frame.loc[:4, "price"] = -1.0
        frame.loc[5:7, "rooms"] = 40
    frame = pd.concat([frame, frame.iloc[:25]])  # duplicated rows
    buf = io.StringIO()
    frame.to_csv(buf, index=False, date_format="%Y-%m-%d")  # missing prices: empty
    return buf.getvalue()


def drop_file(page: Any, target: Any, filename: str, text: str) -> None:
    """Drop a file on an element the way a browser does: a drop event with a DataTransfer."""
    transfer = page.evaluate_handle(
        """([name, text]) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], name, {type: 'text/csv'}));
            return dt;
        }""",
        [filename, text],
    )
    target.dispatch_event("dragenter", {"dataTransfer": transfer})
    target.dispatch_event("dragover", {"dataTransfer": transfer})
    target.dispatch_event("drop", {"dataTransfer": transfer})


def watch_texts(page: Any, selector: str) -> None:
    """Record every text an element matching ``selector`` shows (window.__seen)."""
    page.evaluate(
        """(sel) => {
            window.__seen = [];
            const note = () => document.querySelectorAll(sel).forEach(n => {
                const t = n.textContent;
                if (window.__seen[window.__seen.length - 1] !== t) window.__seen.push(t);
            });
            new MutationObserver(note).observe(document.body,
                {subtree: true, childList: true, characterData: true, attributes: true});
        }""",
        selector,
    )


def upload_raw(server: Any, pid: int, name: str, text: str) -> None:
    """Upload a CSV through the REST API (another project's data, for the catalog)."""
    url = f"{server.url}ai-notebook/api/projects/{pid}/datasets/upload?name={name}"
    req = urllib.request.Request(url, data=text.encode(), method="POST")
    req.add_header("Authorization", f"token {server.token}")
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 201


def blocks(server: Any, pid: int) -> list[dict[str, Any]]:
    status, body = server.request("GET", f"ai-notebook/api/projects/{pid}/blocks")
    assert status == 200, body
    return body["items"]


def wait_for(check: Any, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.2)


def test_upload_profile_report_quality_and_lineage(tmp_path: Path) -> None:
    from playwright.sync_api import expect

    config = {"dataset_report_max_rows": 5000, "dataset_report_minimal": True}
    with lab_server(tmp_path, app_config=config) as server, chromium(server) as browser:
        status, project = server.request("POST", "ai-notebook/api/projects", {"name": "Housing"})
        assert status == 201, project
        pid = project["id"]
        server.request(
            "POST",
            f"ai-notebook/api/projects/{pid}/blocks/bulk",
            {"blocks": [{"source": "import pandas as pd"}]},
        )
        page = browser.page(width=1500, height=950)
        run_command(page, "ai-notebook:open-project", {"projectId": pid})
        # the project toolbar's Datasets button opens the panel
        page.evaluate("window.jupyterapp.shell.collapseLeft()")  # room for the panel
        page.locator(".ainb-tb-datasets").click()
        panel = page.locator(".ainb-ds-panel")
        expect(panel).to_be_visible()
        expect(panel.locator(".ainb-ds-empty").first).to_contain_text("No datasets yet")

        # --- 1. drag-and-drop a CSV: progress, then the profile with histograms
        good = listings(60_000, seed=1)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send(  # a slow uplink, so the bar has something to show
            "Network.emulateNetworkConditions",
            {
                "offline": False,
                "latency": 0,
                "downloadThroughput": -1,
                "uploadThroughput": 800_000,
            },
        )
        # an upload cancelled half way leaves nothing behind
        drop_file(page, panel.locator(".ainb-ds-drop"), "scratch.csv", good)
        scratch = panel.locator(".ainb-ds-upload[data-name='scratch']")
        expect(scratch.locator(".ainb-ds-upload-text")).to_contain_text(re.compile(r"[1-9]\d*%"))
        scratch.locator("button.ainb-ds-cancel").click()
        expect(scratch).to_have_attribute("data-state", "cancelled")
        scratch.locator("button.ainb-ds-cancel").click()  # dismissed
        expect(scratch).to_have_count(0)

        watch_texts(page, ".ainb-ds-upload-text")
        drop_file(page, panel.locator(".ainb-ds-drop"), f"{NAME}.csv", good)
        upload = panel.locator(f".ainb-ds-upload[data-name='{NAME}']")
        expect(upload).to_be_visible()
        expect(upload.locator("progress.ainb-ds-progress")).to_be_visible()
        expect(upload.locator(".ainb-ds-upload-text")).to_contain_text(re.compile(r"[1-9]\d*%"))
        screenshot(page, "datasets-upload-progress", tmp_path)
        expect(upload).to_have_attribute("data-state", "done", timeout=RUN_TIMEOUT)
        cdp.send(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        seen = page.evaluate("window.__seen")
        percents = [int(m.group(1)) for t in seen if (m := re.search(r"(\d+)%$", t))]
        assert any(0 < p < 100 for p in percents), seen  # the bar moved while sending
        assert any("profiling" in t for t in seen), seen  # then the server's part
        rows = len(good.splitlines()) - 1
        expect(upload.locator(".ainb-ds-upload-text")).to_contain_text(f"{rows:,} rows")

        item = panel.locator(f".ainb-ds-item[data-name='{NAME}']")
        expect(panel.locator(".ainb-ds-item")).to_have_count(1)  # no "scratch"
        expect(item).to_contain_text(f"v1 · {rows:,} rows · 5 cols")
        profile = panel.locator(".ainb-ds-profile")
        price = profile.locator(".ainb-ds-col[data-column='price']")
        expect(price.locator("svg.ainb-ds-hist rect.ainb-ds-bar")).to_have_count(10)
        expect(price).to_contain_text("DOUBLE")
        # missing prices are nulls of a number column, as in pandas
        nulls = int(pd.read_csv(io.StringIO(good))["price"].isna().sum())
        expect(price.locator(".ainb-ds-has-nulls")).to_contain_text(f"{nulls:,} (")
        city = profile.locator(".ainb-ds-col[data-column='city']")
        expect(city.locator(".ainb-ds-top-row")).to_have_count(len(CITIES))
        expect(city.locator(".ainb-ds-top-value").first).to_have_text("Berlin")
        expect(profile.locator(".ainb-ds-col[data-column='listed']")).to_contain_text("2025-01-")
        expect(profile.locator(".ainb-ds-duplicates")).to_contain_text("25")

        # tags and description are saved
        panel.locator("input.ainb-ds-tags").fill("housing, public")
        panel.locator("input.ainb-ds-tags").press("Enter")
        panel.locator("textarea.ainb-ds-description").fill("Rental listings, one row per flat.")
        panel.locator("textarea.ainb-ds-description").blur()
        expect(item.locator(".ainb-ds-tag")).to_have_text(["housing", "public"])
        screenshot(page, "datasets-profile", tmp_path)
        # In a narrow tab (a split view) nothing is cut off: no sideways overflow.
        page.set_viewport_size({"width": 900, "height": 950})
        expect(panel.locator(".ainb-ds-detail")).to_be_visible()
        page.wait_for_timeout(300)
        overflow = panel.evaluate(
            """node => [node, ...node.querySelectorAll('.ainb-ds-detail, .ainb-ds-col')]
                .filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.className)"""
        )
        assert overflow == [], overflow
        page.set_viewport_size({"width": 1500, "height": 950})
        did = int(item.get_attribute("data-dataset-id"))
        status, stored = server.request("GET", f"ai-notebook/api/projects/{pid}/datasets/{did}")
        assert (stored["description"], stored["tags"]) == (
            "Rental listings, one row per flat.",
            ["housing", "public"],
        )

        # the search finds datasets of every project the user can see, by column too
        status, other = server.request("POST", "ai-notebook/api/projects", {"name": "Climate"})
        upload_raw(server, other["id"], "weather", "day,temperature\n2025-01-01,3.5\n")
        panel.locator("input.ainb-ds-search").fill("temperature")
        hit = panel.locator(".ainb-ds-catalog-hit")
        expect(hit).to_have_count(1)
        expect(hit).to_contain_text("weather")
        expect(hit).to_contain_text("Climate")
        expect(panel.locator(f".ainb-ds-item[data-name='{NAME}']")).to_have_count(0)
        panel.locator("input.ainb-ds-search").fill("housing")  # a tag
        expect(item).to_be_visible()
        expect(hit).to_have_count(0)
        panel.locator("input.ainb-ds-search").fill("")

        # --- 2. the full report: progress in its tab, then the HTML in a sandboxed iframe
        page.evaluate(
            """() => { window.__statuses = [];
            new MutationObserver(() => document.querySelectorAll('.ainb-ds-report')
              .forEach(n => window.__statuses.push(n.dataset.status)))
              .observe(document.body, {subtree: true, attributes: true,
                                       attributeFilter: ['data-status']}); }"""
        )
        panel.locator("button.ainb-ds-report-open").click()
        report = page.locator(".ainb-ds-report")
        expect(report).to_be_visible()
        expect(report.locator("progress.ainb-ds-report-progress")).to_be_visible()
        frame = report.locator("iframe.ainb-ds-report-frame")
        expect(frame).to_be_visible(timeout=REPORT_TIMEOUT)
        assert frame.get_attribute("sandbox") == "allow-scripts"
        assert set(page.evaluate("window.__statuses")) & {"queued", "running"}
        expect(page.frame_locator("iframe.ainb-ds-report-frame").locator("body")).to_contain_text(
            "Overview", timeout=REPORT_TIMEOUT
        )
        screenshot(page, "datasets-report", tmp_path)
        page.locator(".lm-TabBar-tab", has_text="listings v1 report").locator(
            ".lm-TabBar-tabCloseIcon"
        ).click()
        expect(report).to_have_count(0)

        # --- 3. quality rules in the form, failing on a bad version
        page.locator(".lm-TabBar-tab", has_text="Datasets · Housing").click()
        panel.locator(".ainb-ds-tab[data-tab='quality']").click()
        quality = panel.locator(".ainb-ds-quality")
        expect(quality).to_contain_text("No rules yet")
        quality.locator("button.ainb-ds-rule-add").click()
        form = quality.locator("form.ainb-ds-rule-form")
        form.locator("select.ainb-ds-rule-kind").select_option("range")
        form.locator("select.ainb-ds-rule-column").select_option("price")
        form.locator("input[name=min]").fill("0")
        form.locator("button.ainb-ds-rule-save").click()
        expect(quality.locator(".ainb-ds-rule")).to_have_count(1)
        expect(quality.locator(".ainb-ds-rule").first).to_have_attribute("data-passed", "true")
        quality.locator("button.ainb-ds-rule-add").click()
        form.locator("select.ainb-ds-rule-kind").select_option("sql")
        form.locator("textarea[name=predicate]").fill("rooms <= $max_rooms")
        form.locator("button.ainb-ds-param-add").click()
        form.locator("input[name=param-name]").fill("max_rooms")
        form.locator("input[name=param-value]").fill("10")
        screenshot(page, "datasets-rule-form", tmp_path)
        form.locator("button.ainb-ds-rule-save").click()
        expect(quality.locator(".ainb-ds-rule[data-passed='true']")).to_have_count(2)
        expect(quality).to_contain_text("rooms <= $max_rooms  with $max_rooms = 10")

        panel.locator("input.ainb-ds-upload-name").fill(NAME)
        drop_file(
            page, panel.locator(".ainb-ds-drop"), "listings-march.csv", listings(500, 2, True)
        )
        expect(item).to_contain_text("v2 ·", timeout=RUN_TIMEOUT)
        expect(item.locator(".ainb-ds-dot.ainb-ds-fail")).to_be_visible()
        panel.locator(".ainb-ds-tab[data-tab='quality']").click()
        expect(quality).to_contain_text("2 of 2 checks fail on v2")
        failing = quality.locator(".ainb-ds-rule[data-passed='false']")
        expect(failing).to_have_count(2)
        expect(failing.nth(0).locator(".ainb-ds-rule-failing")).to_have_text(
            "10 failing"
        )  # 5 + duplicates
        expect(failing.nth(0).locator(".ainb-ds-sample")).to_contain_text("-1")
        expect(failing.nth(1).locator(".ainb-ds-rule-failing")).to_have_text("6 failing")
        expect(failing.nth(1).locator("table.ainb-ds-sample")).to_contain_text("40")
        # edit the SQL rule's parameter: 40 rooms pass, "check again" says so
        failing.nth(1).locator("button.ainb-ds-rule-edit").click()
        form.locator("input[name=param-value]").fill("50")
        form.locator("button.ainb-ds-rule-save").click()
        expect(quality.locator(".ainb-ds-rule[data-passed='false']")).to_have_count(1)
        quality.locator("button.ainb-ds-check").click()
        expect(quality).to_contain_text("1 of 2 checks fail on v2")
        quality.locator(".ainb-ds-rule[data-kind='sql'] button.ainb-ds-rule-edit").click()
        form.locator("input[name=param-value]").fill("10")
        form.locator("button.ainb-ds-rule-save").click()
        expect(quality.locator(".ainb-ds-rule[data-passed='false']")).to_have_count(2)
        screenshot(page, "datasets-quality", tmp_path)

        # versions: who/when/size/rows and the schema diff
        panel.locator(".ainb-ds-tab[data-tab='versions']").click()
        expect(panel.locator("tr.ainb-ds-version")).to_have_count(2)
        expect(panel.locator("tr.ainb-ds-version[data-version='2']")).to_contain_text("2 failing")
        expect(panel.locator(".ainb-ds-diff")).to_contain_text("Same columns and types.")
        expect(panel.locator(".ainb-ds-diff")).to_contain_text(f"rows \u2212{rows - 525:,}")
        screenshot(page, "datasets-versions", tmp_path)

        # --- 4. insert a loading block, run it, see it in the lineage graph
        panel.locator("button.ainb-ds-insert").click()
        code = f'{NAME} = ain.load("{NAME}")'  # named after the dataset, not df
        notebook = page.locator(".jp-NotebookPanel:visible .jp-Notebook")
        cells = notebook.locator(".jp-Cell")
        expect(cells).to_have_count(2)
        expect(cells.nth(1)).to_contain_text(code)
        wait_for(
            lambda: [b["source"] for b in blocks(server, pid)] == ["import pandas as pd", code]
        )
        block_id = blocks(server, pid)[1]["id"]
        expect(cells.nth(1)).to_have_attribute("data-block-id", str(block_id))
        cells.nth(1).locator(".jp-InputArea-editor").click()
        page.keyboard.press("Control+Enter")
        expect(cells.nth(1)).to_have_attribute("data-state", "fresh", timeout=RUN_TIMEOUT)
        # a cleaning block downstream, written and run elsewhere (the REST API)
        clean = 'clean = ain.load("listings").query("price > 0")\nain.save(clean, "listings_clean")'
        status, body = server.request(
            "POST", f"ai-notebook/api/projects/{pid}/blocks/bulk", {"blocks": [{"source": clean}]}
        )
        assert status == 201, body
        cleaner = blocks(server, pid)[2]["id"]
        status, run = server.request(
            "POST", f"ai-notebook/api/projects/{pid}/blocks/{cleaner}/execute?wait=true"
        )
        assert run["status"] == "succeeded", run
        expect(cells).to_have_count(3)
        cells.nth(0).locator(".jp-InputArea-editor").click()

        page.locator(".lm-TabBar-tab", has_text="Datasets · Housing").click()
        panel.locator(".ainb-ds-tab[data-tab='lineage']").click()
        run_node = panel.locator(f"g.ainb-ds-node[data-kind='run'][data-block-id='{block_id}']")
        expect(run_node).to_be_visible()
        expect(panel.locator(f"g.ainb-ds-node[data-block-id='{cleaner}']")).to_be_visible()
        expect(panel.locator("g.ainb-ds-node[data-kind='version']")).to_contain_text(f"{NAME} v2")
        expect(panel.locator("g.ainb-ds-node[data-kind='other']")).to_contain_text(
            "listings_clean v1"
        )
        expect(panel.locator(".ainb-ds-lineage-runs")).to_contain_text(f"block {block_id} read v2")
        # the kernel's ain.save made a dataset: it showed up by itself (project events)
        expect(panel.locator(".ainb-ds-item[data-name='listings_clean']")).to_be_visible()
        screenshot(page, "datasets-lineage", tmp_path)
        run_node.click()  # jumps to the block in the project notebook
        expect(cells.nth(1)).to_have_class(re.compile(r"\bjp-mod-active\b"))
        expect(cells.nth(0)).not_to_have_class(re.compile(r"\bjp-mod-active\b"))

        # --- delete with confirmation
        page.locator(".lm-TabBar-tab", has_text="Datasets · Housing").click()
        panel.locator("button.ainb-ds-delete").click()
        page.locator(".jp-Dialog button.jp-mod-warn").click()
        expect(panel.locator(f".ainb-ds-item[data-name='{NAME}']")).to_have_count(0)
        status, listed = server.request("GET", f"ai-notebook/api/projects/{pid}/datasets")
        assert [d["name"] for d in listed["items"]] == ["listings_clean"]

        # the panel comes back after a reload (layout restorer)
        page.reload()
        expect(page.locator(".ainb-ds-panel")).to_have_count(1, timeout=RUN_TIMEOUT)
        page.locator(".lm-TabBar-tab", has_text="Datasets · Housing").click()
        expect(page.locator(".ainb-ds-item[data-name='listings_clean']")).to_be_visible()
        assert browser.console_errors == [], browser.console_errors
