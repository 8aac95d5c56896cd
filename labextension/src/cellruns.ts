/**
 * Runs of a project notebook's cells: a cell runs as a recorded block run
 * (`POST .../execute`, sent one at a time so the server queues them in cell
 * order), its outputs come live from `run-output` events and finally from
 * the stored run; runs started elsewhere (other users, pipelines, the agent)
 * show in the same cells. A later run that updates a display an ended run
 * showed (`update_display_data`, as in JupyterLab) changes that run's cell:
 * its `run-output` event names the updating run in `updated_by`.
 */
import type { Cell, CodeCell } from '@jupyterlab/cells';
import type * as nbformat from '@jupyterlab/nbformat';
import { Notification } from '@jupyterlab/apputils';
import { PromiseDelegate } from '@lumino/coreutils';

import type { IRun, IStoredOutput } from './api';
import type { BlockSync } from './blocksync';
import type { ArtifactLoader } from './outputs';
import { liveOutputs, resolveOutputs } from './outputs';
import type { BlockState, ProjectAPI } from './projectapi';
import type { IProjectEvent, ProjectEvents } from './projectevents';
import type { StateView } from './states';

const FINAL = new Set(['succeeded', 'failed', 'cancelled', 'interrupted']);

/** What the runs need of their project document. */
export interface ICellRunsHost {
  project: ProjectAPI;
  events: ProjectEvents;
  loader: ArtifactLoader;
  sync: BlockSync;
  states: StateView;
  cellWidget(blockId: number): Cell | undefined;
  reloadDag(): void;
  isDisposed(): boolean;
}

export class CellRuns {
  constructor(private readonly host: ICellRunsHost) {}

  /** Live outputs of a running block, or new outputs of an ended one. */
  onRunOutput(event: IProjectEvent): void {
    const blockId = event.block_id;
    if (typeof blockId !== 'number') {
      return;
    }
    const runId = event.run_id as number;
    if (typeof event.updated_by === 'number') {
      void this.updated(blockId, runId, event);
      return;
    }
    this._shown.set(blockId, runId);
    void this.showOutputs(
      blockId,
      event.outputs as IStoredOutput[],
      null,
      true
    );
  }

  /**
   * A later run updated displays of the ended run `runId`: its cell shows the
   * run's outputs as they are now, unless it shows a newer run meanwhile. The
   * event has the stored outputs (artifact references resolved here) unless
   * it had to leave some out; then the run is read.
   */
  private async updated(
    blockId: number,
    runId: number,
    event: IProjectEvent
  ): Promise<void> {
    const current = () => (this._shown.get(blockId) ?? runId) === runId;
    if (!current()) {
      return;
    }
    let stored = event.outputs as IStoredOutput[];
    if (event.omitted_bytes !== 0) {
      const run = await this.host.project.run(runId).catch(() => null);
      if (run === null) {
        return;
      }
      stored = run.outputs;
    }
    const outputs = await resolveOutputs(
      this.host.loader,
      this.host.project.projectId,
      stored
    );
    const widget = this.host.cellWidget(blockId);
    if (current() && widget?.model.type === 'code') {
      (widget as CodeCell).model.outputs.fromJSON(outputs);
    }
  }

  /** Someone cleared these blocks' outputs: so do their cells here. */
  outputsCleared(blockIds: number[]): void {
    for (const blockId of blockIds) {
      const widget = this.host.cellWidget(blockId);
      if (widget?.model.type === 'code') {
        const model = (widget as CodeCell).model;
        if (model.executionState !== 'running') {
          model.clearExecution(); // as JupyterLab's Clear Outputs
        }
      }
    }
  }

  /** Run one cell's block and wait for its end; true when it succeeded. */
  async execute(cell: Cell): Promise<boolean> {
    if (!cell.model.sharedModel.getSource().trim()) {
      // As JupyterLab: a blank cell is not sent; its outputs and count go.
      (cell as CodeCell).model.clearExecution();
      return true;
    }
    const blockId = await this.host.sync.flush(cell.model);
    if (blockId === null) {
      return false;
    }
    const codeCell = cell as CodeCell;
    codeCell.model.trusted = true;
    codeCell.outputArea.model.clear();
    // As JupyterLab's own run: the prompt shows `*` and the dirty mark goes.
    codeCell.model.executionState = 'running';
    this.host.states.set(blockId, 'queued', '', true);
    let run: IRun;
    try {
      // One request at a time: the server queues runs in arrival order, and
      // requests sent together may arrive in any order.
      const request = this._sending.then(() =>
        this.host.project.execute(blockId)
      );
      this._sending = request.then(
        () => undefined,
        () => undefined
      );
      run = await request;
    } catch (err) {
      this.host.states.clearLive(blockId);
      codeCell.model.executionState = 'idle';
      Notification.error(
        `Could not run the block: ${err instanceof Error ? err.message : err}`,
        { autoClose: 8000 }
      );
      this.host.reloadDag();
      return false;
    }
    const ended = new PromiseDelegate<IRun>();
    this._waiting.set(run.id, ended);
    this._own.add(run.id);
    if (FINAL.has(run.status)) {
      await this.finish(run);
    } else {
      void this.poll(run.id);
    }
    const final = await ended.promise;
    return final.status === 'succeeded';
  }

  /** Fallback when events do not arrive (socket down): poll the run. */
  private async poll(runId: number): Promise<void> {
    let delay = 1000;
    while (this._waiting.has(runId) && !this.host.isDisposed()) {
      await new Promise(r => setTimeout(r, delay));
      if (this.host.events.state === 'open' && delay < 4000) {
        delay *= 2;
        continue;
      }
      const run = await this.host.project.run(runId).catch(() => null);
      if (run && FINAL.has(run.status)) {
        await this.finish(run);
      }
    }
  }

  /** A run ended: show its stored outputs and wake whoever waits on it. */
  private async finish(run: IRun): Promise<void> {
    const waiter = this._waiting.get(run.id);
    this._waiting.delete(run.id);
    if (run.block_id !== null) {
      this._shown.set(run.block_id, run.id);
      this.host.states.clearLive(run.block_id);
      await this.showOutputs(run.block_id, run.outputs, run.execution_count);
    }
    waiter?.resolve(run);
    this.host.reloadDag();
  }

  private async showOutputs(
    blockId: number,
    stored: ReadonlyArray<IStoredOutput>,
    count: number | null,
    live = false
  ): Promise<void> {
    const widget = this.host.cellWidget(blockId);
    if (!widget || widget.model.type !== 'code') {
      return;
    }
    const cell = widget as CodeCell;
    const outputs: nbformat.IOutput[] = live
      ? liveOutputs(stored)
      : await resolveOutputs(
          this.host.loader,
          this.host.project.projectId,
          stored
        );
    cell.model.outputs.fromJSON(outputs);
    if (!live) {
      cell.model.executionState = 'idle';
      cell.model.executionCount = count;
    }
  }

  onRunStatus(event: IProjectEvent): void {
    const blockId = event.block_id as number | null;
    const status = String(event.status);
    const runId = event.run_id as number;
    if (blockId === null || blockId === undefined) {
      this.pipelineEnded(runId, status);
      return;
    }
    if (status === 'running' && !event.pipeline_id && this._skipped.size) {
      // Something runs again: the skips of the last pipeline are history.
      for (const skipped of this._skipped) {
        this.host.states.clearLive(skipped);
      }
      this._skipped.clear();
    }
    if (status === 'queued' || status === 'running') {
      if (status === 'running') {
        this._shown.set(blockId, runId);
      }
      this.host.states.set(blockId, status as BlockState, '', true);
      const widget = this.host.cellWidget(blockId) as CodeCell | undefined;
      if (widget?.model.type === 'code') {
        widget.model.executionState = 'running';
        if (status === 'running' && !this._own.has(runId)) {
          widget.model.outputs.clear();
        }
      }
      return;
    }
    if (FINAL.has(status)) {
      void this.host.project
        .run(runId)
        .then(run => this.finish(run))
        .catch(() => this.host.reloadDag());
    }
  }

  /**
   * A pipeline ended: the queued / skipped marks it set go, and the server's
   * states (which know what ran, failed or never started) show again.
   */
  private pipelineEnded(pipelineId: number, status: string): void {
    const marked = this._marked.get(pipelineId);
    if (!FINAL.has(status) || !marked) {
      return;
    }
    this._marked.delete(pipelineId);
    for (const blockId of marked) {
      this.host.states.clearLive(blockId); // the server says queued / running too
    }
    this.host.reloadDag();
  }

  onPipelineBlock(event: IProjectEvent): void {
    const blockId = event.block_id as number;
    const status = String(event.status);
    const pipelineId = event.run_id as number;
    if (!this._marked.has(pipelineId)) {
      this._marked.set(pipelineId, new Set());
    }
    this._marked.get(pipelineId)!.add(blockId);
    if (status === 'pending') {
      this.host.states.set(blockId, 'queued', String(event.reason ?? ''), true);
    } else if (status === 'skipped' || status === 'cancelled') {
      if (status === 'skipped') {
        // Kept after the pipeline: an upstream failure skipped it (until
        // something runs again, see onRunStatus).
        this._marked.get(pipelineId)!.delete(blockId);
        this._skipped.add(blockId);
      }
      this.host.states.set(
        blockId,
        'skipped',
        String(event.reason ?? ''),
        true
      );
      const widget = this.host.cellWidget(blockId) as CodeCell | undefined;
      if (widget?.model.type === 'code') {
        widget.model.executionState = 'idle';
        widget.setPrompt(' ');
      }
    } else if (status === 'running') {
      this.host.states.set(blockId, 'running', '', true);
    } else if (status === 'succeeded' || status === 'failed') {
      // Its run ended (in a forked worker there may be no run event here):
      // the server's state shows again.
      this.host.states.clearLive(blockId);
      this.host.reloadDag();
    }
  }

  private _sending: Promise<void> = Promise.resolve();
  private _waiting = new Map<number, PromiseDelegate<IRun>>();
  private _own = new Set<number>();
  /** The blocks each running pipeline marked (queued, running, cancelled). */
  private _marked = new Map<number, Set<number>>();
  /** Blocks a pipeline skipped (an upstream failure), shown so until a run. */
  private _skipped = new Set<number>();
  /** The run each cell shows (once this view has seen one of the block). */
  private _shown = new Map<number, number>();
}
