/**
 * A project opened as a notebook: ties JupyterLab's NotebookPanel to the
 * project's blocks (BlockSync), states (StateView), event stream, kernel and
 * runs.
 *
 * Cells run through the project's execute API (executor.ts, cellruns.ts), so
 * every run is recorded. The notebook's session is attached to the project kernel, so
 * completion, comms and widgets work as in any notebook.
 */
import type { Cell, ICellModel } from '@jupyterlab/cells';
import type { NotebookPanel } from '@jupyterlab/notebook';
import { Notification } from '@jupyterlab/apputils';
import type { IDisposable } from '@lumino/disposable';
import { PromiseDelegate } from '@lumino/coreutils';
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';

import type { AiNotebookAPI, IBlock, ProjectRole } from './api';
import { BlockSync } from './blocksync';
import type { ProjectDrive } from './drive';
import { ProjectAPI } from './projectapi';
import { ProjectEvents, isOwnEvent } from './projectevents';
import { followProject } from './projecttabs';
import type { IProjectEvent } from './projectevents';
import { CellRuns } from './cellruns';
import { errorMessage } from './dom';
import { StateView } from './states';

const DAG_RELOAD_MS = 250;

export class ProjectDocument implements IDisposable {
  private static _byModel = new Map<unknown, ProjectDocument>();

  /** The project document showing a notebook model, if any. */
  static forModel(model: unknown): ProjectDocument | undefined {
    return ProjectDocument._byModel.get(model);
  }

  constructor(
    readonly panel: NotebookPanel,
    readonly projectId: number,
    api: AiNotebookAPI,
    private readonly drive: ProjectDrive
  ) {
    this.project = new ProjectAPI(api, projectId);
    this.events = ProjectEvents.acquire(api.settings, projectId);
    followProject(panel, api.settings, projectId, {
      renamed: name => drive.renamed(projectId, name),
      close: () => panel.close()
    });
    panel.disposed.connect(() => this.dispose());
    window.addEventListener('beforeunload', this.onUnload);
    void this.start();
  }

  /**
   * Leaving the page with an edit not yet saved (blocks save after a typing
   * pause): save it now and let the browser ask before leaving.
   */
  private readonly onUnload = (event: BeforeUnloadEvent): void => {
    if (this.sync?.pending) {
      void this.sync.idle().catch(() => undefined);
      event.preventDefault();
      event.returnValue = '';
    }
  };

  readonly project: ProjectAPI;
  readonly events: ProjectEvents;
  role: ProjectRole = 'viewer';
  sync: BlockSync | null = null;
  states: StateView | null = null;
  runs: CellRuns | null = null;

  /** Resolved once the notebook is loaded and bound to its blocks. */
  get ready(): Promise<void> {
    return this._ready.promise;
  }

  /** States changed (for the DAG view and toolbars). */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    window.removeEventListener('beforeunload', this.onUnload);
    for (const [model, doc] of ProjectDocument._byModel) {
      if (doc === this) {
        ProjectDocument._byModel.delete(model);
      }
    }
    window.clearTimeout(this._dagTimer);
    const sync = this.sync;
    // Save what was typed in the last moments before the tab closed.
    void sync
      ?.idle()
      .catch(() => undefined)
      .then(() => sync.dispose());
    this.events.received.disconnect(this.onEvent, this);
    this.events.release();
    Signal.clearData(this);
  }

  blockIdOf(cell: ICellModel): number | null {
    return this.sync?.blockIdOf(cell) ?? null;
  }

  cellWidget(blockId: number): Cell | undefined {
    const model = this.sync?.cellOf(blockId);
    return this.panel.content.widgets.find(w => w.model === model);
  }

  /** Scroll to a block and select it. */
  async reveal(blockId: number): Promise<void> {
    await this.ready;
    const notebook = this.panel.content;
    const index = notebook.widgets.findIndex(
      w => w.model === this.sync?.cellOf(blockId)
    );
    if (index >= 0) {
      notebook.activeCellIndex = index;
      notebook.deselectAll();
      await notebook.scrollToItem(index, 'center');
    }
  }

  private async start(): Promise<void> {
    const { context } = this.panel;
    try {
      await context.ready;
    } catch (err) {
      this._ready.reject(err);
      return;
    }
    const ws = this.drive.workspace(this.projectId);
    if (!ws || this._disposed) {
      return;
    }
    this.role = ws.role;
    this.panel.title.caption = `AI Notebook project “${ws.project.name}” (${ws.role})`;
    this.panel.addClass('ainb-project-notebook');
    const model = this.panel.content.model!;
    ProjectDocument._byModel.set(model, this);
    const readOnly = ws.role === 'viewer';
    this.sync = new BlockSync(this.project, model, readOnly);
    this.states = new StateView(this.panel.content, this.sync);
    this.runs = new CellRuns({
      project: this.project,
      events: this.events,
      loader: this.drive.loader,
      sync: this.sync,
      states: this.states,
      cellWidget: blockId => this.cellWidget(blockId),
      reloadDag: () => this.reloadDag(),
      isDisposed: () => this._disposed
    });
    if (readOnly) {
      this.panel.addClass('ainb-readonly');
      for (const cell of model.cells) {
        cell.setMetadata('editable', false);
        cell.setMetadata('deletable', false);
      }
    }
    this.sync.failed.connect((_, message) =>
      Notification.error(`Could not save: ${message}`, { autoClose: 8000 })
    );
    this.sync.saved.connect(() => this.reloadDag());
    this.states.setInitial(
      ws.blocks
        .filter(block => block.state)
        .map(block => [
          block.id,
          { state: block.state!, reason: block.stale_reason ?? '' }
        ])
    );

    model.cells.changed.connect(() =>
      requestAnimationFrame(() => {
        this.states?.render();
        this.lockIfViewer();
      })
    );
    this.lockIfViewer();
    this.sync.edited.connect((_, blockId) => this.states?.edited(blockId));
    this.events.received.connect(this.onEvent, this);
    this.events.connectionChanged.connect((_, state) => {
      if (state === 'open') {
        this.reloadDag();
      }
    });
    // Blocks are saved as they change: the document is never "unsaved".
    context.model.dirty = false;
    context.model.stateChanged.connect((_, change) => {
      if (change.name === 'dirty' && change.newValue) {
        // Pending edits are saved by their own timers (and flushed on close).
        window.setTimeout(() => (context.model.dirty = false), 0);
      }
    });
    this._ready.resolve();
    this.reloadDag();
    if (!readOnly) {
      this.panel.sessionContext.kernelChanged.connect((_, change) => {
        if (!change.newValue && !this._disposed && !this._inAttach) {
          this.detached();
        }
      });
      await this.attachKernel();
    }
  }

  /** Viewers see every block but cannot edit one. */
  private lockIfViewer(): void {
    if (this.role === 'viewer') {
      for (const cell of this.panel.content.widgets) {
        cell.readOnly = true;
      }
    }
  }

  /**
   * Point the notebook's session at the project kernel (starting it). Calls
   * run one after the other: two sessions made at once would make JupyterLab
   * delete one (the server keeps a project kernel when another session on it
   * is deleted, execution/shared_sessions.py, but the race is still noise).
   */
  attachKernel(): Promise<void> {
    this._attaching = this._attaching.then(() => this.attach());
    return this._attaching;
  }

  /**
   * JupyterLab's "Shut Down Kernel" or "No Kernel" ended the notebook's
   * session: the server keeps the project kernel (pipelines and other members
   * use it; only the project's own session stops it), so the notebook attaches
   * again, and the notice offers to shut the project kernel down for real.
   */
  private detached(): void {
    void this.attachKernel();
    if (Date.now() - this._detachNoticeAt < 5000) {
      return; // one notice for a burst of changes
    }
    this._detachNoticeAt = Date.now();
    Notification.info(
      'The project kernel keeps running for the project (its pipelines and ' +
        'other members use it); this notebook attached to it again.',
      {
        autoClose: 8000,
        actions: [
          {
            label: 'Shut down the project kernel',
            callback: () => {
              this.project
                .shutdownKernel()
                .catch(err =>
                  Notification.error(
                    `Could not shut the kernel down: ${errorMessage(err)}`,
                    { autoClose: 8000 }
                  )
                );
            }
          }
        ]
      }
    );
  }

  private async attach(): Promise<void> {
    const session = this.panel.sessionContext;
    this._inAttach = true;
    try {
      const kernel = await this.project.startKernel();
      await session.ready;
      if (
        kernel.kernel_id &&
        session.session?.kernel?.id !== kernel.kernel_id
      ) {
        await session.changeKernel({ id: kernel.kernel_id });
      }
    } catch (err) {
      if (!this._disposed) {
        console.warn('ai-notebook: could not attach the project kernel', err);
      }
    } finally {
      this._inAttach = false;
    }
  }

  /** Run one cell's block and wait for its end; true when it succeeded. */
  async execute(cell: Cell): Promise<boolean> {
    await this.ready;
    return this.runs!.execute(cell);
  }

  // ------------------------------------------------------------ events

  private onEvent(_: ProjectEvents, event: IProjectEvent): void {
    const sync = this.sync;
    if (!sync || this._disposed) {
      return;
    }
    const own = isOwnEvent(event);
    switch (event.type) {
      case 'block-created':
        if (!own) {
          sync.remoteCreated(event.block as IBlock);
        }
        this.reloadDag();
        break;
      case 'block-changed':
        // Also our own: a restore from history or the agent changes blocks
        // outside the editor; versions keep echoes of our saves harmless.
        sync.remoteChanged(event.block as IBlock);
        this.reloadDag();
        break;
      case 'block-deleted':
        if (!own) {
          sync.remoteDeleted(event.block_id as number);
        }
        this.reloadDag();
        break;
      case 'outputs-cleared':
        if (!own) {
          this.runs?.outputsCleared(event.block_ids as number[]);
        }
        break;
      case 'blocks-moved':
        if (!own) {
          sync.remoteMoved(event.order as number[]);
        }
        this.reloadDag(); // a move changes what each block reads
        break;
      case 'run-status':
        this.runs?.onRunStatus(event);
        break;
      case 'run-output':
        this.runs?.onRunOutput(event);
        break;
      case 'pipeline-block':
        this.runs?.onPipelineBlock(event);
        break;
      case 'kernel-status':
        if (event.state === 'started' && this.role !== 'viewer') {
          void this.attachKernel();
        }
        this.reloadDag();
        break;
      case 'edge-added':
      case 'edge-removed':
      case 'dag-changed':
        this.reloadDag();
        break;
    }
    this._changed.emit();
  }

  /** Re-read the DAG's states soon (coalesced). */
  reloadDag(): void {
    window.clearTimeout(this._dagTimer);
    this._dagTimer = window.setTimeout(async () => {
      try {
        const dag = await this.project.dag();
        if (!this._disposed) {
          this.states?.setDag(dag);
          this._changed.emit();
        }
      } catch {
        // the next event tries again
      }
    }, DAG_RELOAD_MS);
  }

  private _disposed = false;
  private _attaching: Promise<void> = Promise.resolve();
  private _inAttach = false;
  private _detachNoticeAt = 0;
  private _ready = new PromiseDelegate<void>();
  private _changed = new Signal<this, void>(this);
  private _dagTimer = 0;
}
