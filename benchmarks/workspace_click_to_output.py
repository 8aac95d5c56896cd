"""Click-to-output of a trivial block: a project notebook vs a plain JupyterLab notebook.

A ``jupyter lab`` with the extension (temp dir, SQLite) and Debian's Chromium. One page
has two notebooks open as tabs, each with the cells ``print(1)`` and ``x = 2``:

- project: a project opened with ``ai-notebook:open-project``; its cells run through our
  executor (``POST .../blocks/{id}/execute``, outputs from the project's event stream).
- baseline: ``plain.ipynb`` in the server root opened with ``docmanager:open``, same
  kernelspec (``ai-notebook-python``), JupyterLab's own executor over the kernel's
  WebSocket.

Each repetition selects the first cell in command mode and presses Shift+Enter. The time
is measured in the page: ``performance.now()`` in a capturing keydown listener, until a
MutationObserver on the cell sees a new stdout output with the text ``1`` in the DOM. The
two sides alternate (ABBA), after --warmup runs each, with a pause between runs for the
notebooks to settle (the project re-reads its DAG 250 ms after a run).

With --trace, the page also timestamps our fetch requests and project events (init
script wrapping fetch and WebSocket), and the script prints where the project's time goes.

    .venv/bin/python benchmarks/workspace_click_to_output.py [--n 30] [--warmup 5] [--trace]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from _lab import lab, machine, pct, rest, run_command, summary

GOAL = 1.2
SOURCES = ["print(1)", "x = 2"]
KERNEL = "ai-notebook-python"

FIND_PANELS = """
() => {
  const found = {};
  for (const w of window.jupyterapp.shell.widgets('main')) {
    const path = w.context && w.context.path;
    if (!path) continue;
    if (path.startsWith('AINotebook:')) found.project = w;
    if (path === 'plain.ipynb') found.plain = w;
  }
  window.__bench = found;
  return Object.keys(found).sort();
}
"""

KERNEL_IDLE = """
(which) => {
  const panel = window.__bench[which];
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle' && kernel.connectionStatus === 'connected';
}
"""

# Show the side's tab, select its first cell in command mode, focus the notebook.
PREPARE = """
async (which) => {
  const panel = window.__bench[which];
  window.jupyterapp.shell.activateById(panel.id);
  const nb = panel.content;
  nb.mode = 'command';
  nb.deselectAll();
  nb.activeCellIndex = 0;
  nb.activate();
  await new Promise(r => requestAnimationFrame(() => setTimeout(r, 0)));
  return nb.node.contains(document.activeElement) && nb.mode === 'command';
}
"""

# Arm the measurement: keydown (capture) starts it, a new stdout output "1" ends it.
ARM = """
(which) => {
  const cell = window.__bench[which].content.widgets[0];
  const old = new Set(cell.node.querySelectorAll('.jp-OutputArea-output'));
  window.__click = new Promise((resolve, reject) => {
    let t0 = null;
    const onKey = e => {
      if (t0 === null && e.key === 'Enter' && e.shiftKey) t0 = performance.now();
    };
    const check = () => {
      if (t0 === null) return;
      const outs = cell.node.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stdout"]');
      for (const out of outs) {
        if (!old.has(out) && out.textContent.trim() === '1') {
          const t1 = performance.now();
          obs.disconnect();
          window.removeEventListener('keydown', onKey, true);
          clearTimeout(timer);
          resolve({ t0, t1, ms: t1 - t0 });
          return;
        }
      }
    };
    const obs = new MutationObserver(check);
    obs.observe(cell.node, { childList: true, subtree: true, characterData: true });
    window.addEventListener('keydown', onKey, true);
    const timer = setTimeout(() => {
      obs.disconnect();
      reject(new Error('no output within 60 s'));
    }, 60000);
  });
  return true;
}
"""

# The run is over: an execution count in the prompt and nothing queued.
SETTLED = """
(which) => {
  const panel = window.__bench[which];
  const cell = panel.content.widgets[0];
  const prompt = cell.node.querySelector('.jp-InputPrompt');
  const text = prompt ? prompt.textContent : '';
  return /\\[\\d+\\]/.test(text) && !text.includes('*');
}
"""


def plain_notebook() -> dict[str, Any]:
    return {
        "cells": [
            {
                "cell_type": "code",
                "execution_count": None,
                "id": f"c{i}",
                "metadata": {},
                "outputs": [],
                "source": s,
            }
            for i, s in enumerate(SOURCES)
        ],
        "metadata": {
            "kernelspec": {"name": KERNEL, "display_name": "AI Notebook", "language": "python"},
            "language_info": {"name": "python"},
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def click(page: Any, which: str, pause: float) -> dict[str, float]:
    if not page.evaluate(PREPARE, which):
        raise RuntimeError(f"{which}: the notebook did not take the focus")
    page.evaluate(ARM, which)
    page.keyboard.press("Shift+Enter")
    result = page.evaluate("() => window.__click")
    page.wait_for_function(SETTLED, arg=which, timeout=60_000)
    time.sleep(pause)
    return result


def phases(trace: list[dict[str, Any]], t0: float, t1: float, kernel: str) -> dict[str, float]:
    """Milliseconds from the keypress to each traced point of one run."""
    out: dict[str, float] = {}
    for e in trace:
        if not t0 <= e["t"] <= t1 + 1:
            continue
        what, url = e["what"], e.get("url", "")
        if what == "fetch" and e["method"] == "POST" and url.endswith("/execute"):
            out.setdefault("execute POST sent", e["t"] - t0)
        elif what == "response" and url.endswith("/execute"):
            out.setdefault("execute response", e["t"] - t0)
        elif what == "event" and e["type"] in ("run-status", "run-output"):
            out.setdefault(f"event {e['type']} {e['status']}".rstrip(), e["t"] - t0)
        elif what == "kernel-send" and e["kernel"] == kernel:
            out.setdefault("kernel WebSocket: first send", e["t"] - t0)
        elif what == "kernel-message" and e["kernel"] == kernel:
            out.setdefault("kernel WebSocket: first message", e["t"] - t0)
    out["output in the DOM"] = t1 - t0
    return out


def print_phases(label: str, traced: list[dict[str, float]]) -> None:
    print(f"{label}, median ms after the keypress (runs where the point was seen):")
    medians = {k: statistics.median([t[k] for t in traced if k in t]) for t in traced for k in t}
    for k in sorted(medians, key=medians.__getitem__):
        seen = sum(1 for t in traced if k in t)
        print(f"  {k:<34}{medians[k]:7.1f}  ({seen}/{len(traced)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--n", type=int, default=30, help="timed runs per side")
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs per side")
    parser.add_argument("--pause", type=float, default=0.6, help="seconds between runs")
    parser.add_argument("--trace", action="store_true", help="where the project's time goes")
    args = parser.parse_args()
    times: dict[str, list[float]] = {"project": [], "plain": []}
    load = [os.getloadavg()[0]]
    traced: dict[str, list[dict[str, float]]] = {"project": [], "plain": []}
    try:
        with lab(trace=args.trace) as (server, browser):
            pid = rest(server, "POST", "projects", {"name": "click"})["id"]
            rest(
                server,
                "POST",
                f"projects/{pid}/blocks/bulk",
                {"blocks": [{"source": s} for s in SOURCES]},
            )
            (server.workdir / "root" / "plain.ipynb").write_text(json.dumps(plain_notebook()))
            page = browser.page()
            run_command(page, "ai-notebook:open-project", {"projectId": pid})
            run_command(page, "docmanager:open", {"path": "plain.ipynb"})
            page.wait_for_function(
                f"() => ({FIND_PANELS})().length === 2", timeout=60_000, polling=200
            )
            for which in ("project", "plain"):
                page.wait_for_function(KERNEL_IDLE, arg=which, timeout=120_000, polling=200)
            kernels = {
                w: page.evaluate(f"() => window.__bench.{w}.sessionContext.session.kernel.id")
                for w in ("project", "plain")
            }
            order = ["project", "plain"]
            for _ in range(args.warmup):
                for which in order:
                    click(page, which, args.pause)
            for i in range(args.n):
                for which in order if i % 2 == 0 else order[::-1]:
                    r = click(page, which, args.pause)
                    times[which].append(r["ms"])
                    if args.trace:
                        trace = page.evaluate("() => window.__ainbTrace.splice(0)")
                        traced[which].append(phases(trace, r["t0"], r["t1"], kernels[which]))
            load.append(os.getloadavg()[0])
            kernel = page.evaluate("() => window.__bench.plain.sessionContext.session.kernel.name")
            if kernel != KERNEL:
                raise RuntimeError(f"the plain notebook ran on {kernel}, not {KERNEL}")
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)

    print(f"machine: {machine()}")
    print(f"load average (1 min) at start / end: {load[0]:.1f} / {load[-1]:.1f}")
    print(f"kernelspec {KERNEL} on both sides; n = {args.n} per side, {args.warmup} warm-up")
    print(f"{'baseline (Lab notebook)':<28}{summary(times['plain'])}")
    print(f"{'project notebook':<28}{summary(times['project'])}")
    r50 = pct(times["project"], 50) / pct(times["plain"], 50)
    r95 = pct(times["project"], 95) / pct(times["plain"], 95)
    print(f"ratio project / baseline: p50 {r50:.2f}x, p95 {r95:.2f}x")
    print(f"goal: p50 ratio <= {GOAL}x: {'met' if r50 <= GOAL else 'NOT met'}")
    if args.trace:
        print_phases("baseline run", traced["plain"])
        print_phases("project run", traced["project"])


if __name__ == "__main__":
    main()
