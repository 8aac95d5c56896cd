/**
 * One block in the panel: its source and, for code blocks, a run button, the
 * status of its latest run and that run's outputs.
 *
 * A view follows the newest run of its block. Status and output snapshots
 * come from Jupyter events; the stored run (GET) is the source of truth and
 * replaces what the events showed once the run is final. While a run is
 * active the run is also polled, slowly, in case events are missed (the
 * event socket reconnects, or is on standby while the browser tab is hidden).
 *
 * Stable selectors: div.ainb-block[data-kind][data-block-id], pre.ainb-block-source,
 * button.ainb-run-block, button.ainb-cancel-run,
 * .ainb-run-status[data-status] (none|queued|running|succeeded|failed|cancelled|interrupted),
 * .ainb-exec-count, .ainb-run-message, .ainb-run-stale, div.ainb-outputs.
 */
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { runIcon, stopIcon } from '@jupyterlab/ui-components';

import type { AiNotebookAPI, IBlock, IRun, RunStatus } from './api';
import type { IRunOutputEvent, IRunStatusEvent } from './events';
import { isFinalStatus, statusRank } from './events';
import { ArtifactLoader, OutputsView, liveOutputs, resolveOutputs } from './outputs';
import { el, errorMessage, iconButton } from './dom';

/** Poll interval for an active run, as a fallback to events. */
const POLL_MS = 5000;

const STATUS_LABELS: Record<RunStatus, string> = {
  queued: 'Queued',
  running: 'Running\u2026',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
  interrupted: 'Interrupted'
};

export namespace BlockView {
  export interface IOptions {
    block: IBlock;
    api: AiNotebookAPI;
    rendermime: IRenderMimeRegistry;
    artifacts: ArtifactLoader;
    /** Show an API error in the panel's error line. */
    onError: (message: string) => void;
    /** A run of this block changed status (the kernel bar refreshes). */
    onRunStatus?: (status: RunStatus) => void;
  }
}

export class BlockView {
  readonly node: HTMLDivElement;

  constructor(options: BlockView.IOptions) {
    this._api = options.api;
    this._artifacts = options.artifacts;
    this._onError = options.onError;
    this._onRunStatus = options.onRunStatus;
    this._block = options.block;
    this.node = el('div', 'ainb-block');
    this.node.dataset.kind = options.block.kind;
    this.node.dataset.blockId = String(options.block.id);

    const header = el('div', 'ainb-block-header');
    header.appendChild(el('span', 'ainb-block-kind', options.block.kind));
    this._meta = el('span', 'ainb-block-meta');
    header.appendChild(this._meta);
    this.node.appendChild(header);

    // Markdown is shown as plain text for now.
    this._source = el(
      'pre',
      options.block.kind === 'markdown'
        ? 'ainb-block-source ainb-block-markdown'
        : 'ainb-block-source'
    );
    this.node.appendChild(this._source);

    if (options.block.kind === 'code') {
      const runBar = el('div', 'ainb-run-bar');
      this._runButton = iconButton('ainb-run-block', 'Run block', runIcon);
      this._runButton.addEventListener('click', () => void this.run());
      this._cancelButton = iconButton('ainb-cancel-run', 'Cancel run', stopIcon);
      this._cancelButton.addEventListener('click', () => void this.cancel());
      this._execCount = el('span', 'ainb-exec-count');
      this._badge = el('span', 'ainb-run-status');
      this._badge.setAttribute('role', 'status');
      runBar.append(
        this._runButton,
        this._cancelButton,
        this._execCount,
        this._badge
      );
      this.node.appendChild(runBar);

      this._message = el('div', 'ainb-run-message');
      this._stale = el('div', 'ainb-run-stale');
      this._outputs = new OutputsView(options.rendermime);
      this.node.append(this._message, this._stale, this._outputs.node);
    }
    this.update(options.block, false);
  }

  get block(): IBlock {
    return this._block;
  }

  /** Id of the run shown, if any. */
  get runId(): number | null {
    return this._runId;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /**
   * Show a (re)loaded block. Loads its last run when it is newer than the
   * one shown, e.g. run by someone else since.
   */
  update(block: IBlock, canRun: boolean): void {
    this._block = block;
    this._canRun = canRun;
    this.node.dataset.position = String(block.position);
    this._meta.textContent = `#${block.position} \u00b7 v${block.version}`;
    this._source.textContent = block.source;
    this._render();
    const last = block.last_run_id ?? null;
    if (
      this._outputs &&
      last !== null &&
      (this._runId === null || last > this._runId) &&
      last !== this._requestedRunId
    ) {
      this._requestedRunId = last;
      void this._loadRun(last).then(ok => {
        if (!ok && this._requestedRunId === last) {
          this._requestedRunId = null; // try again at the next refresh
        }
      });
    }
  }

  /** Start a run of the block (POST execute, without waiting). */
  async run(): Promise<void> {
    if (!this._outputs || !this._canRun || this._starting || this._isActive()) {
      return;
    }
    this._starting = true;
    this._render();
    try {
      const run = await this._api.executeBlock(this._block.project_id, this._block.id);
      this._applyRun(run);
    } catch (err) {
      this._onError(errorMessage(err));
    } finally {
      this._starting = false;
      this._render();
    }
  }

  /** Cancel the active run (queued or running). */
  async cancel(): Promise<void> {
    const runId = this._runId;
    if (runId === null || !this._isActive()) {
      return;
    }
    this._cancelling = true;
    this._render();
    try {
      this._applyRun(await this._api.cancelRun(this._block.project_id, runId));
    } catch (err) {
      this._onError(errorMessage(err));
      void this._loadRun(runId); // e.g. 409: it ended meanwhile
    } finally {
      this._cancelling = false;
      this._render();
    }
  }

  /** Show a run of this block fetched elsewhere (ignored if older). */
  showRun(run: IRun): void {
    this._applyRun(run);
  }

  onStatusEvent(event: IRunStatusEvent): void {
    if (!this._outputs || !this._adopt(event.run_id, event.status)) {
      return;
    }
    this._status = event.status;
    this._execCountValue = event.execution_count ?? this._execCountValue;
    this._messageText = event.message;
    this._render();
    this._onRunStatus?.(event.status);
    if (isFinalStatus(event.status)) {
      // The stored run is the source of truth for the final outputs.
      void this._loadRun(event.run_id);
    } else {
      this._schedulePoll();
    }
  }

  onOutputEvent(event: IRunOutputEvent): void {
    if (!this._outputs) {
      return;
    }
    if (event.run_id !== this._runId) {
      // Output of a run we have not heard of yet: it is running.
      if (!this._adopt(event.run_id, 'running')) {
        return;
      }
      this._status = 'running';
      this._render();
      this._schedulePoll();
    } else if (this._status !== null && isFinalStatus(this._status)) {
      return; // late: the stored outputs are shown
    }
    if (event.seq <= this._seq) {
      return; // older snapshot (or a duplicate)
    }
    // Each event holds the outputs so far: it replaces the previous one.
    this._seq = event.seq;
    this._renderToken += 1;
    this._outputs.set(liveOutputs(event.outputs));
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    this._renderToken += 1;
    this._stopPoll();
    this._outputs?.dispose();
  }

  // ---------------------------------------------------------------- runs

  private _isActive(): boolean {
    return this._status !== null && !isFinalStatus(this._status);
  }

  /**
   * Whether news about `runId` with `status` should be shown: never for an
   * older run than the one shown, nor going back in a run's life (a POST
   * answer "queued" arriving after the event "running"). A newer run resets
   * the view.
   */
  private _adopt(runId: number, status: RunStatus): boolean {
    if (this._disposed) {
      return false;
    }
    if (this._runId !== null && runId < this._runId) {
      return false;
    }
    if (runId !== this._runId) {
      this._runId = runId;
      this._status = null;
      this._execCountValue = null;
      this._messageText = '';
      this._runVersion = null;
      this._seq = 0;
      this._finalShown = false;
      this._renderToken += 1;
      this._outputs?.clear();
      return true;
    }
    return this._status === null || statusRank(status) >= statusRank(this._status);
  }

  private _applyRun(run: IRun): void {
    if (!this._outputs || !this._adopt(run.id, run.status)) {
      return;
    }
    const changed = run.status !== this._status;
    this._status = run.status;
    this._execCountValue = run.execution_count ?? this._execCountValue;
    this._messageText = run.message ?? '';
    this._runVersion = run.block_version;
    this._render();
    if (changed) {
      this._onRunStatus?.(run.status);
    }
    if (isFinalStatus(run.status)) {
      this._stopPoll();
      if (!this._finalShown) {
        void this._showStored(run);
      }
    } else {
      if (this._seq === 0 && run.outputs.length > 0) {
        // Outputs stored so far, until an output event brings newer ones.
        void this._showStored(run);
      }
      this._schedulePoll();
    }
  }

  private async _showStored(run: IRun): Promise<void> {
    const token = ++this._renderToken;
    const outputs = await resolveOutputs(
      this._artifacts,
      run.project_id,
      run.outputs
    );
    if (token !== this._renderToken || !this._outputs) {
      return;
    }
    if (!isFinalStatus(run.status) && this._seq > 0) {
      return; // an output event arrived meanwhile and is newer
    }
    this._outputs.set(outputs);
    // A final run's outputs never change: later GETs need not render again.
    this._finalShown = isFinalStatus(run.status);
  }

  /** GET a run and show it; false (error shown) if that failed. */
  private async _loadRun(runId: number): Promise<boolean> {
    try {
      const run = await this._api.getRun(this._block.project_id, runId);
      this._applyRun(run);
      return true;
    } catch (err) {
      if (!this._disposed) {
        this._onError(errorMessage(err));
      }
      return false;
    }
  }

  private _schedulePoll(): void {
    if (this._pollTimer !== null || this._disposed || !this._isActive()) {
      return;
    }
    this._pollTimer = window.setTimeout(async () => {
      this._pollTimer = null;
      const runId = this._runId;
      if (runId === null || !this._isActive()) {
        return;
      }
      try {
        this._applyRun(await this._api.getRun(this._block.project_id, runId));
      } catch {
        // Transient (server restarting): try again later; events may also come.
      }
      this._schedulePoll();
    }, POLL_MS);
  }

  private _stopPoll(): void {
    if (this._pollTimer !== null) {
      window.clearTimeout(this._pollTimer);
      this._pollTimer = null;
    }
  }

  // ---------------------------------------------------------------- DOM

  private _render(): void {
    if (!this._runButton || !this._cancelButton || !this._badge) {
      return;
    }
    const active = this._isActive();
    this._runButton.hidden = !this._canRun;
    this._runButton.disabled = !this._canRun || active || this._starting;
    this._cancelButton.hidden = !this._canRun || !active;
    this._cancelButton.disabled = this._cancelling;

    const status = this._status;
    this._badge.dataset.status = status ?? 'none';
    this._badge.textContent = status ? STATUS_LABELS[status] : '';
    this._badge.title = status ? `Run ${this._runId}: ${status}` : '';
    this._badge.hidden = status === null;

    const count = this._execCountValue;
    this._execCount!.textContent = count !== null ? `[${count}]` : '';
    this._execCount!.hidden = count === null;

    this._message!.textContent = this._messageText;
    this._message!.hidden = this._messageText === '';

    const stale =
      this._runVersion !== null && this._runVersion !== this._block.version;
    this._stale!.textContent = stale
      ? `Outputs of version v${this._runVersion}; the block changed since.`
      : '';
    this._stale!.hidden = !stale;
  }

  private _api: AiNotebookAPI;
  private _artifacts: ArtifactLoader;
  private _onError: (message: string) => void;
  private _onRunStatus?: (status: RunStatus) => void;
  private _block: IBlock;
  private _canRun = false;
  private _starting = false;
  private _cancelling = false;
  private _disposed = false;

  private _runId: number | null = null;
  /** The last run id `update` asked for (one GET per newly seen run). */
  private _requestedRunId: number | null = null;
  private _status: RunStatus | null = null;
  private _execCountValue: number | null = null;
  private _messageText = '';
  private _runVersion: number | null = null;
  /** seq of the output event shown (0: none). */
  private _seq = 0;
  /** The final stored outputs of the run are shown. */
  private _finalShown = false;
  /** Bumped to drop stale asynchronous renders. */
  private _renderToken = 0;
  private _pollTimer: number | null = null;

  private _meta: HTMLSpanElement;
  private _source: HTMLPreElement;
  private _runButton?: HTMLButtonElement;
  private _cancelButton?: HTMLButtonElement;
  private _execCount?: HTMLSpanElement;
  private _badge?: HTMLSpanElement;
  private _message?: HTMLDivElement;
  private _stale?: HTMLDivElement;
  private _outputs?: OutputsView;
}
