/**
 * Block states shown on the cells of a project notebook: fresh, stale (and
 * why), never-run, queued, running, failed, skipped.
 *
 * The server's DAG states and stale reasons are the base (re-read when
 * something may have changed them); run and pipeline events set queued /
 * running / skipped / failed in between. Every cell element carries
 * `data-block-id` and `data-state`, and a badge whose tooltip says what the
 * state means and why (stale, failed and skipped blocks).
 */
import type { Cell } from '@jupyterlab/cells';
import type { Notebook } from '@jupyterlab/notebook';

import type { BlockSync } from './blocksync';
import type { BlockState, IDag } from './projectapi';

export interface IBlockState {
  state: BlockState;
  reason: string;
}

const LABELS: Record<BlockState, string> = {
  fresh: 'fresh',
  stale: 'stale',
  'never-run': 'not run',
  queued: 'queued',
  running: 'running',
  failed: 'failed',
  skipped: 'skipped'
};

/** What a state means, when no more precise reason is known. */
const MEANINGS: Record<BlockState, string> = {
  fresh: 'its results in the kernel match its code and everything upstream',
  stale: 'its results may no longer match its code or upstream; run it again',
  'never-run': 'it has not run yet',
  queued: 'it waits for the kernel',
  running: 'it is running',
  failed: 'its last run raised an error (see its output)',
  skipped: 'the pipeline skipped it because an upstream block failed'
};

/** First non-empty line of a source, shortened. */
export function firstLine(source: string, max = 40): string {
  const line = source.split('\n').find(l => l.trim() !== '') ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

export class StateView {
  constructor(
    private readonly notebook: Notebook,
    private readonly sync: BlockSync
  ) {}

  get(blockId: number): IBlockState | undefined {
    return this._states.get(blockId);
  }

  /** Replace every state with the server's DAG (its stale reasons too). */
  setDag(dag: IDag): void {
    this._states.clear();
    this._unresolved.clear();
    for (const node of dag.nodes) {
      if (node.unresolved.length) {
        this._unresolved.set(node.block_id, node.unresolved);
      }
      this._states.set(
        node.block_id,
        this._live.get(node.block_id) ?? {
          state: node.state,
          reason: node.stale_reason ?? ''
        }
      );
    }
    this.render();
  }

  /**
   * A live state from a run or pipeline event; `sticky` keeps it over DAG
   * reloads until `clearLive` (queued and running last as long as the run).
   */
  set(blockId: number, state: BlockState, reason = '', sticky = false): void {
    this._states.set(blockId, { state, reason });
    if (sticky) {
      this._live.set(blockId, { state, reason });
    } else {
      this._live.delete(blockId);
    }
    this.renderBlock(blockId);
  }

  /** The states the workspace came with (one render for all). */
  setInitial(states: Iterable<[number, IBlockState]>): void {
    for (const [blockId, info] of states) {
      this._states.set(blockId, info);
    }
    this.render();
  }

  clearLive(blockId: number): void {
    this._live.delete(blockId);
  }

  /** Mark a block stale at once when its code is edited here. */
  edited(blockId: number): void {
    const current = this._states.get(blockId);
    if (current && current.state !== 'never-run' && !this._live.has(blockId)) {
      this.set(blockId, 'stale', 'its code changed since it last ran');
    }
  }

  /** Decorate every cell (cheap: attributes only change when they differ). */
  render(): void {
    for (const cell of this.notebook.widgets) {
      this.decorate(cell);
    }
  }

  /** Decorate the one cell of a block. */
  renderBlock(blockId: number): void {
    const model = this.sync.cellOf(blockId);
    const cell = model && this.notebook.widgets.find(w => w.model === model);
    if (cell) {
      this.decorate(cell);
    }
  }

  private decorate(cell: Cell): void {
    const blockId = this.sync.blockIdOf(cell.model);
    const node = cell.node;
    if (blockId === null) {
      delete node.dataset.blockId;
      delete node.dataset.state;
      return;
    }
    node.dataset.blockId = String(blockId);
    if (cell.model.type !== 'code') {
      delete node.dataset.state;
      node.querySelector('.ainb-state-badge')?.remove();
      return;
    }
    if (!cell.model.sharedModel.getSource().trim()) {
      // A blank cell holds nothing and never runs (as in JupyterLab): no state.
      delete node.dataset.state;
      node.querySelector(':scope > .ainb-state-badge')?.remove();
      return;
    }
    const info = this._states.get(blockId) ?? {
      state: 'never-run' as BlockState,
      reason: ''
    };
    if (node.dataset.state !== info.state) {
      node.dataset.state = info.state;
    }
    let badge = node.querySelector<HTMLElement>(':scope > .ainb-state-badge');
    if (!badge) {
      badge = document.createElement('div');
      badge.className = 'ainb-state-badge';
      node.appendChild(badge);
    }
    const label = LABELS[info.state];
    if (badge.textContent !== label) {
      badge.textContent = label;
    }
    badge.title = `${label}: ${this.inCells(info.reason) || MEANINGS[info.state]}`;
    badge.dataset.state = info.state;
    // A name no cell above defines works only while the kernel still holds it.
    const missing = this._unresolved.get(blockId);
    if (missing) {
      badge.title +=
        `\n⚠ it reads ${missing.join(', ')}, which no cell above defines: ` +
        'after a restart, running the cells in order fails here';
      badge.dataset.unresolved = missing.join(' ');
    } else {
      delete badge.dataset.unresolved;
    }
  }

  /**
   * The server names blocks by id ("block 7"), which a notebook does not show:
   * here they are named by their place, "cell 3", as a user counts them.
   */
  private inCells(reason: string): string {
    return reason.replace(/\bblock (\d+)\b/g, (text, id: string) => {
      const model = this.sync.cellOf(Number(id));
      const index = model
        ? this.notebook.widgets.findIndex(w => w.model === model)
        : -1;
      return index < 0 ? text : `cell ${index + 1}`;
    });
  }

  private _states = new Map<number, IBlockState>();
  private _unresolved = new Map<number, string[]>();
  private _live = new Map<number, IBlockState>();
}
