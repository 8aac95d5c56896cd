/**
 * The DAG view of a project: a main-area widget drawing the project's code
 * blocks and their edges (laid out by elkjs) as SVG, with zoom and pan, a
 * toolbar (refresh, fit, run all, run stale) and the visual pipeline builder:
 * drag from one node to another to add an explicit edge, select one and
 * press Delete (or use its context menu) to remove it.
 *
 * Stable selectors (UI-test contract, see render.ts for nodes and edges):
 *   .ainb-dag-view, .ainb-dag-toolbar .ainb-dag-{refresh,fit,run-all,run-stale} (jp-button),
 *   svg.ainb-dag-svg, .ainb-dag-empty, .ainb-dag-error, .ainb-dag-status.
 */
import { showErrorMessage } from '@jupyterlab/apputils';
import { Message } from '@lumino/messaging';
import { Panel, Widget } from '@lumino/widgets';

import { AiNotebookAPI, ApiError } from '../api';
import { addEdge, deleteEdge, IPipelineRequest, runPipeline } from '../dagapi';
import { el, errorMessage } from '../dom';
import { Gestures, nodeOf } from './gestures';
import { showCycleRefused } from './dialogs';
import { dagIcon } from './icons';
import { ILayout, layoutDag } from './layout';
import { DagMenus } from './menus';
import {
  DagState,
  IDagModel,
  describeBlock,
  loadDag,
  toDagState
} from './model';
import { PipelineWatch } from './pipeline';
import { createDagToolbar } from './toolbar';
import {
  renderEdge,
  renderMarkers,
  renderNode,
  setEdgeSelected,
  setNodeState,
  svgEl
} from './render';
import { Viewport } from './viewport';

/** The first view of a graph is never zoomed out below this. */
const READABLE_SCALE = 0.7;

export namespace DagView {
  export interface IOptions {
    api: AiNotebookAPI;
    projectId: number;
    /** Shown in the tab title until the project is loaded. */
    projectName?: string;
    /** Called when a node is clicked (or "Open block" chosen). */
    openBlock(blockId: number): void;
  }
}

export class DagView extends Panel {
  constructor(options: DagView.IOptions) {
    super();
    this._api = options.api;
    this.projectId = options.projectId;
    this._openBlock = options.openBlock;
    this.id = `ainb-dag-${options.projectId}`;
    this.addClass('ainb-dag-view');
    this.title.icon = dagIcon;
    this.title.closable = true;
    this.setProjectName(options.projectName ?? `project ${options.projectId}`);

    const { toolbar, status } = createDagToolbar({
      refresh: () => void this.refresh(),
      fit: () => this.fit(),
      runAll: () => void this.run({ target: 'all' }, 'all blocks'),
      runStale: () => void this.run({ target: 'stale' }, 'stale blocks')
    });
    this._status = status;
    this.addWidget(toolbar);
    const canvas = (this._canvas = new Widget({
      node: el('div', 'ainb-dag-canvas')
    }));
    this.addWidget(canvas);
    canvas.node.tabIndex = 0;
    canvas.node.addEventListener('keydown', this._onKey);
    canvas.node.addEventListener('contextmenu', this._onContextMenu);

    this._svg = svgEl('svg', { class: 'ainb-dag-svg' }, canvas.node);
    this._prefix = `ainb-dag-${options.projectId}-${Private.nextId++}`;
    renderMarkers(this._svg, this._prefix);
    const zoomed = svgEl('g', { class: 'ainb-dag-viewport' }, this._svg);
    this._edgeLayer = svgEl('g', { class: 'ainb-dag-edges' }, zoomed);
    this._nodeLayer = svgEl('g', { class: 'ainb-dag-nodes' }, zoomed);
    const overlay = svgEl('g', { class: 'ainb-dag-overlay' }, zoomed);
    this._viewport = new Viewport(this._svg, zoomed);
    this._gestures = new Gestures(this._viewport, overlay, {
      anchor: id => {
        const box = this._graphLayout?.nodes.get(id);
        return box ? { x: box.x + box.width / 2, y: box.y + box.height } : null;
      },
      nodeClick: id => this._openBlock(id),
      connect: (source, target) => void this._addEdge(source, target),
      edgeClick: edge => this._selectEdge(edge),
      backgroundClick: () => this._selectEdge(null)
    });
    this._menus = new DagMenus({
      openBlock: id => this._openBlock(id),
      run: (request, what) => void this.run(request, what),
      removeEdge: id => void this._removeEdge(id)
    });
    this._empty = el('div', 'ainb-dag-empty');
    this._empty.append(
      el('div', 'ainb-dag-empty-title', 'No code blocks yet'),
      el(
        'div',
        'ainb-dag-empty-hint',
        'Add code blocks to the project: their dependencies appear here.'
      )
    );
    this._error = el('div', 'ainb-dag-error');
    this._error.setAttribute('role', 'alert');
    canvas.node.append(this._empty, this._error);
    this._empty.hidden = true;
    this._error.hidden = true;
    this._watch = new PipelineWatch(this._api, this.projectId, {
      status: (id, state) => this.applyRunStatus(id, state),
      message: (text, isError) => this._setStatus(text, isError),
      ended: () => void this.refresh()
    });
  }

  readonly projectId: number;

  /** The model last drawn (null before the first load). */
  get model(): IDagModel | null {
    return this._model;
  }

  /** Re-fetch the DAG and redraw it, keeping zoom and pan. */
  async refresh(): Promise<void> {
    const ticket = ++this._ticket;
    this.node.classList.add('ainb-dag-loading');
    try {
      const model = await loadDag(this._api, this.projectId);
      const layout = await layoutDag(model);
      if (ticket !== this._ticket || this.isDisposed) {
        return; // a newer refresh is under way
      }
      this._error.hidden = true;
      this._draw(model, layout);
    } catch (err) {
      if (ticket === this._ticket && !this.isDisposed) {
        this._error.textContent = `Could not load the DAG: ${errorMessage(err)}`;
        this._error.hidden = false;
      }
    } finally {
      if (ticket === this._ticket) {
        this.node.classList.remove('ainb-dag-loading');
      }
    }
    if (!this._named) {
      void this._api.getProject(this.projectId).then(
        p => {
          this._named = true;
          this.setProjectName(p.name);
        },
        () => undefined
      );
    }
  }

  /**
   * Show a block's state live, without relayout. `state` is a node state or a
   * server status name (run status, pipeline block result): see `toDagState`.
   */
  applyRunStatus(blockId: number, state: DagState | string): void {
    const block = this._model?.blocks.find(b => b.id === blockId);
    const node = this._nodeLayer.querySelector<SVGGElement>(
      `.ainb-dag-node[data-block-id="${blockId}"]`
    );
    if (block && node) {
      setNodeState(node, block, toDagState(state));
    }
  }

  /** Show the whole graph (`readable`: not below a legible scale). */
  fit(readable = false): void {
    this._fitReadable = readable;
    if (this._graphLayout) {
      const min = readable ? READABLE_SCALE : undefined;
      const first = this._model?.blocks[0];
      const box = first ? this._graphLayout.nodes.get(first.id) : undefined;
      const focus = box && { x: box.x + box.width / 2, y: box.y };
      this._needsFit = !this._viewport.fit(this._graphLayout, min, focus);
    }
  }

  /** Start a pipeline (`what` names it in the status line) and follow it. */
  async run(request: IPipelineRequest, what: string): Promise<void> {
    try {
      const run = await runPipeline(this._api, this.projectId, request);
      this._watch.follow(run, what);
    } catch (err) {
      this._setStatus(`Could not run ${what}: ${errorMessage(err)}`, true);
      void showErrorMessage('Pipeline not started', errorMessage(err));
    }
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._watch.dispose();
    this._gestures.dispose();
    this._viewport.dispose();
    this._menus.dispose();
    super.dispose();
  }

  /**
   * A closed tab is gone: a plain Panel would only be detached, keeping its event
   * watch open and letting the layout restorer bring it back after a reload.
   */
  protected onCloseRequest(msg: Message): void {
    super.onCloseRequest(msg);
    this.dispose();
  }

  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (!this._model) {
      void this.refresh();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (this._needsFit) {
      this.fit(true);
    }
  }

  /** A resized view fits its graph again, unless the user zoomed or panned it. */
  protected onResize(msg: Widget.ResizeMessage): void {
    super.onResize(msg);
    if (this._needsFit || !this._viewport.moved) {
      this.fit(this._fitReadable);
    }
  }

  private _draw(model: IDagModel, layout: ILayout): void {
    const first = this._model === null || this._model.blocks.length === 0;
    this._model = model;
    this._graphLayout = layout;
    this._edgeLayer.replaceChildren();
    this._nodeLayer.replaceChildren();
    this._selected = null;
    for (const link of model.links) {
      const route = layout.edges.get(link.key);
      if (route) {
        this._edgeLayer.append(renderEdge(link, route, this._prefix));
      }
    }
    for (const block of model.blocks) {
      const box = layout.nodes.get(block.id);
      if (box) {
        this._nodeLayer.append(renderNode(block, box));
      }
    }
    this._empty.hidden = model.blocks.length > 0;
    this._svg.classList.toggle('ainb-dag-hidden', model.blocks.length === 0);
    if (model.ignored.length) {
      const cycles = model.ignored
        .map(
          e =>
            `#${e.source} → #${e.target} (cycle ${e.cycle.map(b => `#${b}`).join(' → ')})`
        )
        .join('; ');
      this._setStatus(
        `Explicit edges left out, they close a cycle: ${cycles}`,
        true
      );
    }
    if (first && model.blocks.length) {
      this.fit(true);
    }
  }

  /** The tab's title names the project. */
  setProjectName(name: string): void {
    this.title.label = `DAG · ${name}`;
    this.title.caption = `Dependency graph of ${name}`;
  }

  private _setStatus(text: string, isError = false): void {
    this._status.textContent = text;
    this._status.title = text;
    this._status.classList.toggle('ainb-dag-status-error', isError);
  }

  private _selectEdge(edge: SVGGElement | null): void {
    if (this._selected) {
      setEdgeSelected(this._selected, false, this._prefix);
    }
    this._selected = edge?.dataset.kind === 'explicit' ? edge : null;
    if (this._selected) {
      setEdgeSelected(this._selected, true, this._prefix);
      this._setStatus('Edge selected: press Delete to remove it');
    }
    this._canvas.node.focus({ preventScroll: true });
  }

  private async _addEdge(source: number, target: number): Promise<void> {
    const name = (id: number) => describeBlock(this._model, id);
    const edge = `${name(source)} → ${name(target)}`;
    try {
      await addEdge(this._api, this.projectId, source, target);
      this._setStatus(`Added edge ${edge}`);
      await this.refresh();
    } catch (err) {
      const cycle = err instanceof ApiError ? err.details.cycle : undefined;
      this._setStatus(`Edge not added: ${errorMessage(err)}`, true);
      if (Array.isArray(cycle)) {
        const blocks = (cycle as number[]).slice(0, -1).map(name);
        await showCycleRefused(errorMessage(err), edge, blocks);
      } else {
        await showErrorMessage('Edge not added', errorMessage(err));
      }
    }
  }

  private async _removeEdge(edgeId: number): Promise<void> {
    try {
      await deleteEdge(this._api, this.projectId, edgeId);
      this._setStatus('Edge removed');
      await this.refresh();
    } catch (err) {
      this._setStatus(`Edge not removed: ${errorMessage(err)}`, true);
      await showErrorMessage('Edge not removed', errorMessage(err));
    }
  }

  private _onKey = (event: KeyboardEvent): void => {
    if (event.key === 'Escape') {
      this._gestures.cancel();
      this._selectEdge(null);
    } else if (
      (event.key === 'Delete' || event.key === 'Backspace') &&
      this._selected
    ) {
      event.preventDefault();
      event.stopPropagation();
      const id = Number(this._selected.dataset.edgeId);
      if (id) {
        void this._removeEdge(id);
      }
    }
  };

  private _onContextMenu = (event: MouseEvent): void => {
    const node = nodeOf(event.target);
    const edge =
      event.target instanceof Element
        ? (event.target.closest(
            '.ainb-dag-edge-explicit'
          ) as SVGGElement | null)
        : null;
    if (!node && !edge) {
      return; // JupyterLab's own context menu
    }
    event.preventDefault();
    event.stopPropagation();
    if (node) {
      this._menus.openNodeMenu(
        Number(node.dataset.blockId),
        event.clientX,
        event.clientY
      );
    } else if (edge) {
      this._selectEdge(edge);
      this._menus.openEdgeMenu(
        Number(edge.dataset.edgeId),
        event.clientX,
        event.clientY
      );
    }
  };

  private readonly _api: AiNotebookAPI;
  private readonly _openBlock: (blockId: number) => void;
  private readonly _canvas: Widget;
  private readonly _svg: SVGSVGElement;
  private readonly _prefix: string;
  private readonly _edgeLayer: SVGGElement;
  private readonly _nodeLayer: SVGGElement;
  private readonly _viewport: Viewport;
  private readonly _gestures: Gestures;
  private readonly _menus: DagMenus;
  private readonly _empty: HTMLDivElement;
  private readonly _error: HTMLDivElement;
  private readonly _watch: PipelineWatch;
  private readonly _status: HTMLElement;
  private _model: IDagModel | null = null;
  private _graphLayout: ILayout | null = null;
  private _selected: SVGGElement | null = null;
  private _ticket = 0;
  private _named = false;
  private _needsFit = false;
  private _fitReadable = true;
}

namespace Private {
  // Incremented by every view (prefer-const misreads namespace exports).
  // eslint-disable-next-line prefer-const
  export let nextId = 0;
}
