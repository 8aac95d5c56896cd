/**
 * Run history of one block (a main-area tab): every run with its status,
 * when, how long, who, the code that ran and its outputs; a line diff
 * between a run's code and the block's current code; "restore" puts a past
 * run's code back into the block (a versioned save, seen live by everyone).
 *
 * Stable selectors: .ainb-history-run[data-run-id][data-status],
 * .ainb-history-diff, button.ainb-history-restore.
 */
import { MainAreaWidget, Notification } from '@jupyterlab/apputils';
import { OutputArea, OutputAreaModel } from '@jupyterlab/outputarea';
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { Widget } from '@lumino/widgets';
import { diffLines } from 'diff';

import type { IBlock, IRun } from './api';
import { el, errorMessage } from './dom';
import type { ArtifactLoader } from './outputs';
import { resolveOutputs } from './outputs';
import type { ProjectAPI } from './projectapi';
import { firstLine } from './states';

function when(iso: string | null): string {
  return iso ? new Date(iso).toLocaleString() : '';
}

function duration(run: IRun): string {
  if (!run.started_at || !run.finished_at) {
    return '';
  }
  const ms = Date.parse(run.finished_at) - Date.parse(run.started_at);
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** A line diff, `-` lines from the old code, `+` lines from the current. */
export function renderDiff(before: string, after: string): HTMLElement {
  const pre = el('pre', 'ainb-history-diff');
  for (const part of diffLines(before, after)) {
    const cls = part.added
      ? 'ainb-diff-added'
      : part.removed
        ? 'ainb-diff-removed'
        : 'ainb-diff-same';
    const mark = part.added ? '+ ' : part.removed ? '- ' : '  ';
    const lines = part.value.replace(/\n$/, '').split('\n');
    for (const line of lines) {
      pre.appendChild(el('div', cls, mark + line));
    }
  }
  return pre;
}

export class RunHistory extends Widget {
  constructor(
    private readonly project: ProjectAPI,
    readonly blockId: number,
    private readonly rendermime: IRenderMimeRegistry,
    private readonly loader: ArtifactLoader,
    readonly canEdit: boolean
  ) {
    super();
    this.addClass('ainb-history');
    this.node.tabIndex = 0;
    void this.refresh();
  }

  get projectId(): number {
    return this.project.projectId;
  }

  async refresh(): Promise<void> {
    try {
      const [block, runs] = await Promise.all([
        this.project.getBlock(this.blockId),
        this.project.runs(this.blockId, 100)
      ]);
      this.block = block;
      this.render(runs.items);
    } catch (err) {
      this.node.textContent = '';
      this.node.appendChild(el('div', 'ainb-error', errorMessage(err)));
    }
  }

  private render(runs: IRun[]): void {
    const block = this.block!;
    this.title.label = `History · ${firstLine(block.source, 24) || `block ${block.id}`}`;
    this.node.textContent = '';
    const header = el('div', 'ainb-history-header');
    header.appendChild(el('h3', undefined, `Run history of block ${block.id}`));
    header.appendChild(
      el('code', 'ainb-history-current', firstLine(block.source, 80))
    );
    this.node.appendChild(header);
    if (runs.length === 0) {
      this.node.appendChild(
        el('div', 'ainb-empty', 'This block has not been run yet.')
      );
      return;
    }
    const list = el('div', 'ainb-history-list');
    for (const run of runs) {
      list.appendChild(this.renderRun(run, block));
    }
    this.node.appendChild(list);
  }

  private renderRun(run: IRun, block: IBlock): HTMLElement {
    const item = el('details', 'ainb-history-run');
    item.dataset.runId = String(run.id);
    item.dataset.status = run.status;
    const summary = el('summary', 'ainb-history-summary');
    const status = el('span', 'ainb-run-status', run.status);
    status.dataset.status = run.status;
    summary.append(
      status,
      el('span', 'ainb-history-when', when(run.queued_at)),
      el('span', 'ainb-history-duration', duration(run)),
      el('span', 'ainb-history-who', run.username ? `by ${run.username}` : ''),
      el(
        'span',
        'ainb-history-changed',
        run.source === block.source
          ? 'same code as now'
          : 'code differs from now'
      )
    );
    item.appendChild(summary);
    item.addEventListener('toggle', () => {
      if (item.open && item.childElementCount === 1) {
        void this.fill(item, run, block);
      }
    });
    return item;
  }

  private async fill(
    item: HTMLElement,
    run: IRun,
    block: IBlock
  ): Promise<void> {
    const body = el('div', 'ainb-history-body');
    body.appendChild(
      el('h4', undefined, 'Code that ran, against the current code')
    );
    body.appendChild(renderDiff(run.source, block.source));
    if (this.canEdit && run.source !== block.source) {
      const restore = el(
        'button',
        'ainb-history-restore jp-Button jp-mod-styled jp-mod-accept',
        'Restore this code'
      );
      restore.addEventListener('click', () => void this.restore(run));
      body.appendChild(restore);
    }
    if (run.message) {
      body.appendChild(el('div', 'ainb-history-message', run.message));
    }
    const model = new OutputAreaModel({ trusted: false });
    model.fromJSON(
      await resolveOutputs(this.loader, run.project_id, run.outputs)
    );
    const area = new OutputArea({ model, rendermime: this.rendermime });
    area.addClass('ainb-history-outputs');
    item.appendChild(body);
    Widget.attach(area, body);
  }

  private async restore(run: IRun): Promise<void> {
    try {
      const current = await this.project.getBlock(this.blockId);
      await this.project.updateBlock(this.blockId, current.version, {
        source: run.source
      });
      Notification.success(
        `Block ${this.blockId} restored to the code of run ${run.id}.`,
        {
          autoClose: 4000
        }
      );
      await this.refresh();
    } catch (err) {
      Notification.error(`Could not restore: ${errorMessage(err)}`, {
        autoClose: 8000
      });
    }
  }

  private block: IBlock | null = null;
}

/** The history of a block in a main-area tab. */
export function historyWidget(history: RunHistory): MainAreaWidget<RunHistory> {
  const widget = new MainAreaWidget({ content: history });
  widget.id = `ainb-history-${history.blockId}`;
  widget.title.closable = true;
  history.title.changed.connect(() => {
    widget.title.label = history.title.label;
  });
  return widget;
}
