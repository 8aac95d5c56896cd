/**
 * The selected project's kernel: its state (GET .../kernel, refreshed when
 * kernel-status events say it started, died, restarted or shut down, and when
 * runs change status) and interrupt / restart buttons for editors.
 *
 * Stable selectors: div.ainb-kernel > .ainb-kernel-state[data-state][data-generation],
 * .ainb-kernel-queue, .ainb-kernel-message, button.ainb-kernel-interrupt,
 * button.ainb-kernel-restart.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { refreshIcon, stopIcon } from '@jupyterlab/ui-components';

import type { AiNotebookAPI, IKernelStatus, IProject, RunStatus } from './api';
import { el, errorMessage, iconButton } from './dom';
import type { IKernelStatusEvent } from './events';
import { isFinalStatus } from './events';

/** Coalesce refreshes asked for by bursts of run events. */
const REFRESH_DELAY_MS = 300;
/**
 * Re-read a passing state (busy, starting, restarting) this often: no event
 * says when the kernel goes idle again, and the server's execution state can
 * lag the end of a run a little.
 */
const SETTLE_DELAY_MS = 2000;
const PASSING_STATES = new Set(['busy', 'starting', 'restarting']);

const STATE_LABELS: Record<string, string> = {
  not_started: 'not started',
  starting: 'starting',
  idle: 'idle',
  busy: 'busy',
  restarting: 'restarting',
  dead: 'dead'
};

/** States in which there is a kernel process to interrupt or restart. */
const RUNNING_STATES = new Set(['starting', 'idle', 'busy']);

export class KernelBar {
  readonly node: HTMLDivElement;

  constructor(
    private readonly _api: AiNotebookAPI,
    private readonly _onError: (message: string) => void
  ) {
    this.node = el('div', 'ainb-kernel');
    this.node.hidden = true;
    this.node.appendChild(el('span', 'ainb-kernel-label', 'Kernel'));
    this._state = el('span', 'ainb-kernel-state');
    this._queue = el('span', 'ainb-kernel-queue');
    this._interrupt = iconButton(
      'ainb-kernel-interrupt',
      'Interrupt the kernel',
      stopIcon
    );
    this._interrupt.addEventListener('click', () => void this.interrupt());
    this._restart = iconButton(
      'ainb-kernel-restart',
      'Restart the kernel\u2026',
      refreshIcon
    );
    this._restart.addEventListener('click', () => void this.restart());
    const spacer = el('span', 'ainb-kernel-spacer');
    this._message = el('div', 'ainb-kernel-message');
    this.node.append(
      this._state,
      this._queue,
      spacer,
      this._interrupt,
      this._restart,
      this._message
    );
    this._render();
  }

  /** Show the kernel of `project` (null: nothing selected). */
  setProject(project: IProject | null): void {
    const changed = project?.id !== this._project?.id;
    this._project = project;
    if (changed) {
      this._status = null;
      this._eventReason = '';
      this._expectKernel = false;
      this._token += 1;
    }
    this._render();
    if (project && changed) {
      void this.refresh();
    }
  }

  async refresh(): Promise<void> {
    const project = this._project;
    if (!project) {
      return;
    }
    const token = ++this._token;
    try {
      const status = await this._api.getKernel(project.id);
      if (token === this._token) {
        this._status = status;
        this._render();
        this._settle(status);
      }
    } catch (err) {
      if (token === this._token) {
        this._onError(errorMessage(err));
      }
    }
  }

  /** Refresh shortly (runs started or finished: the queue changed). */
  refreshSoon(delay = REFRESH_DELAY_MS): void {
    if (this._refreshTimer !== null) {
      return;
    }
    this._refreshTimer = window.setTimeout(() => {
      this._refreshTimer = null;
      if (this._project) {
        void this.refresh();
      }
    }, delay);
  }

  /**
   * A run of the project changed status: the kernel's state and queue did
   * too. While runs are active a kernel is expected (one is being started).
   */
  noteRunStatus(status: RunStatus): void {
    this._expectKernel = !isFinalStatus(status);
    this.refreshSoon();
  }

  onEvent(event: IKernelStatusEvent): void {
    const project = this._project;
    if (!project || event.project_id !== project.id) {
      return;
    }
    const current = this._status;
    if (
      current &&
      event.generation !== null &&
      event.generation < current.generation
    ) {
      return; // about a kernel that was replaced since
    }
    // Why it died or restarted: kept in view until the next kernel event.
    this._eventReason = event.reason;
    this._expectKernel = event.state !== 'shutdown';
    if (current && (event.state === 'dead' || event.state === 'shutdown')) {
      this._token += 1; // an answer to an older GET must not overwrite this
      this._status = {
        ...current,
        state: event.state === 'dead' ? 'dead' : 'not_started',
        generation: event.generation ?? current.generation
      };
    }
    this._render();
    // The GET has the rest (state, queue, kernel id): the source of truth.
    this.refreshSoon();
  }

  async interrupt(): Promise<void> {
    const project = this._project;
    if (!project) {
      return;
    }
    await this._act(() => this._api.interruptKernel(project.id));
  }

  /** Restart after confirmation: the kernel's variables are lost. */
  async restart(): Promise<void> {
    const project = this._project;
    if (!project) {
      return;
    }
    const result = await showDialog({
      title: 'Restart kernel?',
      body:
        `Restart the kernel of \u201c${project.name}\u201d? All variables ` +
        'are lost and queued runs are cancelled.',
      buttons: [
        Dialog.cancelButton(),
        Dialog.warnButton({ label: 'Restart' })
      ]
    });
    if (!result.button.accept || this._project?.id !== project.id) {
      return;
    }
    if (this._status) {
      // What GET .../kernel says too while the restart is under way.
      this._token += 1;
      this._status = { ...this._status, state: 'restarting' };
    }
    await this._act(() => this._api.restartKernel(project.id));
  }

  dispose(): void {
    if (this._refreshTimer !== null) {
      window.clearTimeout(this._refreshTimer);
      this._refreshTimer = null;
    }
    this._token += 1;
  }

  private async _act(call: () => Promise<IKernelStatus>): Promise<void> {
    const projectId = this._project?.id;
    this._busy = true;
    this._render();
    try {
      const status = await call();
      if (this._project?.id === projectId) {
        this._token += 1;
        this._status = status;
        this._settle(status);
      }
    } catch (err) {
      this._onError(errorMessage(err));
      void this.refresh(); // the state may have changed anyway
    } finally {
      this._busy = false;
      this._render();
    }
  }

  /**
   * Read the state again soon while it is passing (busy, starting,
   * restarting), or while a kernel is expected but not reported yet: no
   * event says when the kernel goes idle, and the server reports a kernel
   * being started as not_started for a moment.
   */
  private _settle(status: IKernelStatus): void {
    if (status.state !== 'not_started') {
      this._expectKernel = false;
    }
    if (
      PASSING_STATES.has(status.state) ||
      (status.state === 'not_started' &&
        (this._expectKernel || status.queued_run_ids.length > 0))
    ) {
      this.refreshSoon(SETTLE_DELAY_MS);
    }
  }

  private _render(): void {
    const project = this._project;
    this.node.hidden = project === null;
    const status = this._status;
    const state = status?.state;
    this._state.dataset.state = state ?? 'unknown';
    this._state.dataset.generation = String(status?.generation ?? '');
    this._state.textContent = state ? STATE_LABELS[state] ?? state : '\u2026';
    const details: string[] = [];
    if (status) {
      details.push(`${status.kernel_name}, generation ${status.generation}`);
      if (status.reset_at) {
        const reason = status.reset_reason || 'reset';
        details.push(`${reason} (${new Date(status.reset_at).toLocaleString()})`);
      }
    }
    this._state.title = details.join('\n');

    const queued = status?.queued_run_ids.length ?? 0;
    this._queue.textContent = queued > 0 ? `${queued} queued` : '';
    this._queue.hidden = queued === 0;

    const canControl = project !== null && project.role !== 'viewer';
    this._interrupt.hidden = !canControl;
    this._restart.hidden = !canControl;
    const running = state !== undefined && RUNNING_STATES.has(state);
    this._interrupt.disabled = this._busy || !running;
    // Also after a death the revival could not fix ("restarting", "dead").
    this._restart.disabled = this._busy || !state || state === 'not_started';

    this._message.textContent = this._eventReason;
    this._message.hidden = this._eventReason === '';
  }

  private _project: IProject | null = null;
  private _status: IKernelStatus | null = null;
  private _token = 0;
  private _busy = false;
  private _eventReason = '';
  private _expectKernel = false;
  private _refreshTimer: number | null = null;
  private _state: HTMLSpanElement;
  private _queue: HTMLSpanElement;
  private _interrupt: HTMLButtonElement;
  private _restart: HTMLButtonElement;
  private _message: HTMLDivElement;
}

