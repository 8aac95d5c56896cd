"""End to end: the DAG view in a real JupyterLab, driven by Chromium.

A project of three code blocks (a = 1; b = a + 1; c = b * 2) made through the REST API is
opened with the ``ai-notebook:open-dag`` command: its nodes and inferred edges carry the
UI-test contract's data attributes; dragging from c to a is refused as a cycle with the
server's message naming the blocks; dragging from a to c adds an explicit edge, which is
then selected and deleted with the Delete key; "Run all" in the view's toolbar turns every
node fresh. A second, larger project gives the screenshot of the README's tour.

Needs Debian's Chromium at /usr/bin/chromium (see test_browser.py).
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from browser import LAB_LOAD_TIMEOUT, lab_page, mentions_us, screenshot
from server_process import ServerProcess

RUN_TIMEOUT = 90_000  # ms: the first run starts the project's kernel
# The refused edge is a 409 that Chromium logs as a failed resource load.
EXPECTED_409 = re.compile(
    r"Failed to load resource: the server responded with a status of 409 .*"
    r"/ai-notebook/api/projects/\d+/edges(\?\d*)?\]$"
)
TOUR_SOURCES = [
    "import pandas as pd\nimport numpy as np",
    "# load the raw orders\n"
    "raw = pd.DataFrame({'region': list('NSEW' * 25), 'amount': np.arange(100)})",
    "regions = sorted(raw['region'].unique())",
    "clean = raw[raw['amount'] > 5].copy()",
    "summary = clean.groupby('region')['amount'].agg(['sum', 'mean'])",
    "top = summary.sort_values('sum', ascending=False).head(3)",
    "report = {'regions': regions, 'top': top.to_dict()}",
    "print(report['top'])",
]


def test_dag_view(tmp_path: Path) -> None:
    lab = {"expose_app_in_browser": True}
    with lab_page(tmp_path, lab_config=lab) as (page, expect, server, console_errors):
        dag_scenario(page, expect, server)
        tour_screenshot(page, expect, server, tmp_path)
    ours = [e for e in console_errors if mentions_us(e) and not EXPECTED_409.search(e)]
    assert not ours, "console errors from the extension:\n" + "\n".join(ours)


def make_project(server: ServerProcess, name: str, sources: list[str]) -> tuple[int, list[int]]:
    status, project = server.request("POST", "ai-notebook/api/projects", {"name": name})
    assert status == 201, project
    pid = project["id"]
    if not sources:
        return pid, []
    status, added = server.request(
        "POST",
        f"ai-notebook/api/projects/{pid}/blocks/bulk",
        {"blocks": [{"source": s} for s in sources]},
    )
    assert status == 201, added
    return pid, [b["id"] for b in added["items"]]


def open_lab(page: Any, server: ServerProcess) -> None:
    page.goto(f"{server.url}lab?token={server.token}", timeout=LAB_LOAD_TIMEOUT)
    page.wait_for_selector("#jp-main-dock-panel", state="visible", timeout=LAB_LOAD_TIMEOUT)
    page.wait_for_function(
        "() => window.jupyterapp?.commands.hasCommand('ai-notebook:open-dag')",
        timeout=LAB_LOAD_TIMEOUT,
    )


def open_dag(page: Any, expect: Any, pid: int) -> Any:
    page.evaluate(
        "pid => window.jupyterapp.commands.execute('ai-notebook:open-dag', {projectId: pid})",
        pid,
    )
    view = page.locator(f"#ainb-dag-{pid}")
    expect(view).to_be_visible()
    return view


def node(view: Any, block_id: int) -> Any:
    return view.locator(f'g.ainb-dag-node[data-block-id="{block_id}"]')


def edge(view: Any, source: int, target: int, kind: str) -> Any:
    return view.locator(
        f'g.ainb-dag-edge[data-source="{source}"][data-target="{target}"][data-kind="{kind}"]'
    )


def drag(page: Any, source: Any, target: Any) -> None:
    """Press on one node, move in steps (past the drag threshold) and release on another."""
    a, b = source.bounding_box(), target.bounding_box()
    page.mouse.move(a["x"] + a["width"] / 2, a["y"] + a["height"] / 2)
    page.mouse.down()
    page.mouse.move(a["x"] + a["width"] / 2 + 8, a["y"] + a["height"] / 2 + 8, steps=2)
    page.mouse.move(b["x"] + b["width"] / 2, b["y"] + b["height"] / 2, steps=8)
    page.mouse.up()


def point_on_edge(page: Any, view: Any, source: int, target: int) -> tuple[float, float]:
    """Page coordinates of the middle of an edge's line."""
    line = edge(view, source, target, "explicit").locator("path.ainb-dag-edge-line")
    return tuple(
        line.evaluate(
            """path => {
                const p = path.getPointAtLength(path.getTotalLength() / 2);
                const m = path.getScreenCTM();
                return [p.x * m.a + p.y * m.c + m.e, p.x * m.b + p.y * m.d + m.f];
            }"""
        )
    )


def dag_edges(server: ServerProcess, pid: int, kind: str) -> list[dict[str, Any]]:
    status, dag = server.request("GET", f"ai-notebook/api/projects/{pid}/dag")
    assert status == 200, dag
    return [e for e in dag["edges"] if e["kind"] == kind]


def dag_scenario(page: Any, expect: Any, server: ServerProcess) -> None:
    empty_pid, _ = make_project(server, f"Empty {uuid.uuid4().hex[:6]}", [])
    pid, (a, b, c) = make_project(
        server, f"DAG {uuid.uuid4().hex[:6]}", ["a = 1", "b = a + 1", "c = b * 2"]
    )
    open_lab(page, server)

    # --- an empty project says so
    empty = open_dag(page, expect, empty_pid)
    expect(empty.locator(".ainb-dag-empty")).to_have_text(re.compile("No code blocks yet"))
    expect(empty.locator("g.ainb-dag-node")).to_have_count(0)
    # A block whose code does not parse is a node with the error, not a failure.
    status, bad = server.request(
        "POST", f"ai-notebook/api/projects/{empty_pid}/blocks", {"source": "def broken(:"}
    )
    assert status == 201, bad
    empty.locator(".ainb-dag-refresh").click()
    broken = node(empty, bad["id"])
    expect(broken).to_have_class(re.compile(r"\bainb-dag-node-error\b"))
    expect(broken).to_contain_text("syntax error")
    expect(empty.locator(".ainb-dag-empty")).to_be_hidden()

    # --- nodes and inferred edges, with the contract's attributes
    view = open_dag(page, expect, pid)
    tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    expect(tab).to_contain_text("DAG · DAG ")
    expect(view.locator("g.ainb-dag-node")).to_have_count(3)
    for block in (a, b, c):
        expect(node(view, block)).to_have_attribute("data-state", "never-run")
    expect(node(view, a)).to_contain_text("a = 1")
    expect(view.locator("g.ainb-dag-edge")).to_have_count(2)
    expect(edge(view, a, b, "inferred")).to_contain_text("a")
    expect(edge(view, b, c, "inferred")).to_contain_text("b")
    expect(view.locator('g.ainb-dag-edge[data-kind="explicit"]')).to_have_count(0)

    # --- drag c -> a: a cycle, refused with the server's message naming the blocks
    drag(page, node(view, c), node(view, a))
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Cycle refused")
    expect(dialog).to_contain_text(f"the edge {c} -> {a} would create a cycle: {a} -> {b} -> {c}")
    expect(dialog.locator(".ainb-dag-cycle-blocks li")).to_have_text(
        [f"#{a} a = 1", f"#{b} b = a + 1", f"#{c} c = b * 2"]
    )
    dialog.locator(".jp-Dialog-button.jp-mod-accept").click()
    expect(dialog).to_have_count(0)
    expect(view.locator('g.ainb-dag-edge[data-kind="explicit"]')).to_have_count(0)
    expect(view.locator(".ainb-dag-status")).to_contain_text("would create a cycle")
    assert dag_edges(server, pid, "explicit") == []

    # --- drag a -> c: an explicit edge, drawn once the server has it
    drag(page, node(view, a), node(view, c))
    explicit = edge(view, a, c, "explicit")
    expect(explicit).to_have_count(1)
    [stored] = dag_edges(server, pid, "explicit")
    assert (stored["source"], stored["target"]) == (a, c), stored
    expect(explicit).to_have_attribute("data-edge-id", str(stored["id"]))

    # --- a click on a node opens the project notebook at its block; back to the DAG
    node(view, b).click()
    active = page.locator(".jp-NotebookPanel:visible .jp-Cell.jp-mod-active")
    expect(active).to_have_attribute("data-block-id", str(b))
    page.evaluate(
        "p => window.jupyterapp.commands.execute('ai-notebook:open-dag', {projectId: p})", pid
    )
    expect(view).to_be_visible()

    # --- select the explicit edge, press Delete: gone, here and on the server
    x, y = point_on_edge(page, view, a, c)
    page.mouse.click(x, y)
    expect(explicit).to_have_class(re.compile(r"\bainb-dag-selected\b"))
    page.keyboard.press("Delete")
    expect(view.locator('g.ainb-dag-edge[data-kind="explicit"]')).to_have_count(0)
    assert dag_edges(server, pid, "explicit") == []
    expect(view.locator("g.ainb-dag-edge")).to_have_count(2)

    # --- run all from the toolbar: every node ends fresh
    view.locator(".ainb-dag-run-all").click()
    for block in (a, b, c):
        expect(node(view, block)).to_have_attribute("data-state", "fresh", timeout=RUN_TIMEOUT)
    expect(view.locator(".ainb-dag-status")).to_contain_text("succeeded")
    expect(node(view, c)).to_contain_text(re.compile(r"fresh · [\d.]+ s · just now"))

    # --- the public API: a live status without relayout, then refresh() back to the server
    page.evaluate(
        """([pid, block]) => {
            const view = [...window.jupyterapp.shell.widgets('main')]
                .find(w => w.id === `ainb-dag-${pid}`);
            view.applyRunStatus(block, 'running');
        }""",
        [pid, b],
    )
    expect(node(view, b)).to_have_attribute("data-state", "running")
    page.evaluate(
        """pid => [...window.jupyterapp.shell.widgets('main')]
            .find(w => w.id === `ainb-dag-${pid}`).refresh()""",
        pid,
    )
    expect(node(view, b)).to_have_attribute("data-state", "fresh")

    # --- zoom (wheel) and pan (drag on the background) survive a refresh
    viewport = view.locator("g.ainb-dag-viewport")
    before = viewport.get_attribute("transform")
    canvas = view.locator(".ainb-dag-canvas").bounding_box()
    page.mouse.move(canvas["x"] + 40, canvas["y"] + 40)
    page.mouse.wheel(0, -300)
    expect(viewport).not_to_have_attribute("transform", before)
    page.mouse.down()
    page.mouse.move(canvas["x"] + 140, canvas["y"] + 90, steps=5)
    page.mouse.up()
    moved = viewport.get_attribute("transform")
    assert moved != before
    view.locator(".ainb-dag-refresh").click()
    expect(node(view, c)).to_have_attribute("data-state", "fresh")
    assert viewport.get_attribute("transform") == moved
    view.locator(".ainb-dag-fit").click()
    expect(viewport).not_to_have_attribute("transform", moved)
    # A fitted view fits again when resized; a zoomed one keeps the user's zoom.
    fitted = viewport.get_attribute("transform")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"] - 300, "height": size["height"]})
    expect(viewport).not_to_have_attribute("transform", fitted)
    canvas = view.locator(".ainb-dag-canvas").bounding_box()
    page.mouse.move(canvas["x"] + 40, canvas["y"] + 40)
    page.mouse.wheel(0, -300)
    expect(viewport).not_to_have_attribute("transform", fitted)
    page.wait_for_timeout(200)
    zoomed = viewport.get_attribute("transform")
    page.set_viewport_size(size)
    page.wait_for_timeout(500)
    assert viewport.get_attribute("transform") == zoomed

    # --- edit an upstream block: dependents turn stale after a refresh
    status, block = server.request("GET", f"ai-notebook/api/projects/{pid}/blocks/{a}")
    assert status == 200, block
    status, body = server.request(
        "PATCH",
        f"ai-notebook/api/projects/{pid}/blocks/{a}",
        {"source": "a = 10", "version": block["version"]},
    )
    assert status == 200, body
    view.locator(".ainb-dag-refresh").click()
    for block_id in (a, b, c):
        expect(node(view, block_id)).to_have_attribute("data-state", "stale")
    # Hovering a node says why it is stale, in the server's words
    expect(node(view, b).locator("title")).to_contain_text(
        f"Stale: upstream is not fresh: block {a} “a = 10” (a)"
    )
    view.locator(".ainb-dag-run-stale").click()
    for block_id in (a, b, c):
        expect(node(view, block_id)).to_have_attribute("data-state", "fresh", timeout=RUN_TIMEOUT)


def tour_screenshot(page: Any, expect: Any, server: ServerProcess, tmp_path: Path) -> None:
    """A realistic project with an explicit edge, run once: the README's DAG picture."""
    pid, ids = make_project(server, "Sales report", TOUR_SOURCES)
    status, body = server.request(
        "POST", f"ai-notebook/api/projects/{pid}/edges", {"source": ids[2], "target": ids[7]}
    )
    assert status == 201, body
    status, run = server.request(
        "POST", f"ai-notebook/api/projects/{pid}/runs?wait=true", {"target": "all"}
    )
    assert status == 200, run
    # Edited after the run: it and its dependents are stale.
    status, block = server.request("GET", f"ai-notebook/api/projects/{pid}/blocks/{ids[3]}")
    status, body = server.request(
        "PATCH",
        f"ai-notebook/api/projects/{pid}/blocks/{ids[3]}",
        {"source": "clean = raw[raw['amount'] > 10].copy()", "version": block["version"]},
    )
    assert status == 200, body
    view = open_dag(page, expect, pid)
    expect(view.locator("g.ainb-dag-node")).to_have_count(len(TOUR_SOURCES))
    expect(node(view, ids[4])).to_have_attribute("data-state", "stale")
    canvas = view.locator(".ainb-dag-canvas").bounding_box()
    page.mouse.move(canvas["x"] + canvas["width"] - 10, canvas["y"] + canvas["height"] - 10)
    screenshot(page, "dag-view", tmp_path)

    # A node's context menu: the pipeline actions. "Run downstream" of `summary` runs
    # it, what depends on it and the stale block it needs (`clean`).
    box = node(view, ids[4]).bounding_box()
    page.mouse.click(box["x"] + 60, box["y"] + 20, button="right")
    menu = page.locator(".lm-Menu.ainb-dag-node-menu")
    expect(menu).to_be_visible()
    expect(menu.locator(".lm-Menu-item:not([data-type=separator])")).to_have_text(
        ["Open block", "Run this block", "Run upstream", "Run downstream"]
    )
    screenshot(page, "dag-view-menu", tmp_path)
    menu.locator(".lm-Menu-item", has_text="Run downstream").click()
    expect(menu).to_have_count(0)
    for block_id in ids[3:]:
        expect(node(view, block_id)).to_have_attribute("data-state", "fresh", timeout=RUN_TIMEOUT)
    expect(view.locator(".ainb-dag-status")).to_contain_text("downstream of")

    # The dark theme: only theme variables, so it follows.
    page.evaluate(
        "() => window.jupyterapp.commands.execute("
        "'apputils:change-theme', {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    page.wait_for_timeout(500)
    screenshot(page, "dag-view-dark", tmp_path)

    # Restored after a reload by the layout restorer.
    page.wait_for_timeout(1500)  # the workspace is saved after a short delay
    page.reload(timeout=LAB_LOAD_TIMEOUT)
    restored = page.locator(f"#ainb-dag-{pid}")
    expect(restored).to_be_visible(timeout=LAB_LOAD_TIMEOUT)
    expect(restored.locator("g.ainb-dag-node")).to_have_count(len(TOUR_SOURCES))

    # A closed view stays closed: it is disposed, so the restorer forgets it.
    page.locator(
        ".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabCloseIcon"
    ).click()
    expect(restored).to_have_count(0)
    page.wait_for_timeout(1500)
    page.reload(timeout=LAB_LOAD_TIMEOUT)
    expect(page.locator(".jp-Notebook").first).to_be_visible(timeout=LAB_LOAD_TIMEOUT)
    expect(page.locator(f"#ainb-dag-{pid}")).to_have_count(0)
