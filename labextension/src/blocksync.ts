/**
 * Keeps a project notebook's cells and the server's blocks in step, one block
 * at a time (never a whole-document write).
 *
 * Local edits: a source change is saved after a short pause with the block's
 * `version` (a 409 asks "keep mine / take theirs"); an added cell becomes a
 * new block at its place, a deleted cell deletes its block, a moved cell
 * moves it, a type change (which JupyterLab does as delete + insert with the
 * same metadata) changes the block's kind. Server calls run one after the
 * other, so the server sees changes in the order they were made.
 *
 * Remote changes (other users, the agent) arrive as events and are applied
 * to the notebook model without being echoed back.
 */
import type { ICellModel } from '@jupyterlab/cells';
import type { INotebookModel } from '@jupyterlab/notebook';
import type { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';

import type { BlockKind, IBlock } from './api';
import { ApiError } from './api';
import { resolveConflict } from './conflict';
import { RemoteChanges } from './remotesync';
import { CELL_META as META } from './drive';
import type { ICellBlockMeta } from './drive';
import type { ProjectAPI } from './projectapi';

/** Pause after the last keystroke before a source is saved. */
export const SAVE_DELAY_MS = 400;

export interface ITracked {
  cell: ICellModel;
  blockId: number | null;
  version: number;
  kind: BlockKind;
  timer: number;
  /** A local source change not yet saved. */
  dirty: boolean;
  /** Removed from the notebook; deleted on the server unless re-claimed. */
  removed: boolean;
}

export function kindOf(cell: ICellModel): BlockKind {
  return cell.type === 'code' ? 'code' : 'markdown';
}

export class BlockSync implements IDisposable {
  constructor(
    private readonly api: ProjectAPI,
    private readonly model: INotebookModel,
    readonly readOnly: boolean
  ) {
    for (const cell of model.cells) {
      const meta = cell.getMetadata(META) as ICellBlockMeta | undefined;
      const t = this.track(cell, meta);
      if (!meta && !readOnly) {
        // A cell JupyterLab added itself (an empty project gets one).
        this.enqueue(() => this.create(t));
      }
    }
    model.cells.changed.connect(this.onCellsChanged, this);
    this._remoteChanges = new RemoteChanges({
      model,
      cellOf: blockId => this.cellOf(blockId),
      tracked: cell => this._byCell.get(cell),
      track: (cell, meta) => void this.track(cell, meta),
      forget: cell => void this._byCell.delete(cell),
      remote: change => this.remote(change)
    });
  }

  /** A block was saved or created (its new version). */
  get saved(): ISignal<this, IBlock> {
    return this._saved;
  }

  /** A block's source was edited here (before it is saved). */
  get edited(): ISignal<this, number> {
    return this._edited;
  }

  /** A server call failed (message for the user). */
  get failed(): ISignal<this, string> {
    return this._failed;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    // The notebook model may be disposed first (closing the tab): its cells are gone.
    this.model.cells?.changed.disconnect(this.onCellsChanged, this);
    for (const t of this._byCell.values()) {
      window.clearTimeout(t.timer);
    }
    Signal.clearData(this);
  }

  blockIdOf(cell: ICellModel): number | null {
    return this._byCell.get(cell)?.blockId ?? null;
  }

  cellOf(blockId: number): ICellModel | undefined {
    for (const t of this._byCell.values()) {
      if (t.blockId === blockId && !t.removed) {
        return t.cell;
      }
    }
    return undefined;
  }

  /** Save the cell now (creating its block if needed); its block id. */
  async flush(cell: ICellModel): Promise<number | null> {
    const t = this._byCell.get(cell);
    if (!t) {
      return null;
    }
    if (t.dirty) {
      window.clearTimeout(t.timer);
      this.enqueue(() => this.saveSource(t));
    }
    await this._chain;
    return t.blockId;
  }

  /** Whether an edit waits for its save (typed within the save delay). */
  get pending(): boolean {
    return [...this._byCell.values()].some(t => t.dirty && !t.cell.isDisposed);
  }

  /** Save every pending edit now and wait for every server call. */
  async idle(): Promise<void> {
    for (const t of this._byCell.values()) {
      if (t.dirty && !t.cell.isDisposed) {
        window.clearTimeout(t.timer);
        // Read now: the cell may be gone (tab closed) when the call runs.
        const source = t.cell.sharedModel.getSource();
        this.enqueue(() => this.saveSource(t, source));
      }
    }
    await this._chain;
  }

  // ------------------------------------------------------ remote changes

  /** Apply a change without saving it back. */
  private remote(change: () => void): void {
    this._remote++;
    try {
      change();
    } finally {
      this._remote--;
    }
  }

  /** Other users' changes (see remotesync.ts). */
  remoteCreated(block: IBlock): void {
    this._remoteChanges.created(block);
  }

  remoteChanged(block: IBlock): void {
    this._remoteChanges.changed(block);
  }

  remoteDeleted(blockId: number): void {
    this._remoteChanges.deleted(blockId);
  }

  remoteMoved(order: number[]): void {
    this._remoteChanges.moved(order);
  }

  // ------------------------------------------------------- local changes

  private track(cell: ICellModel, meta: ICellBlockMeta | undefined): ITracked {
    const t: ITracked = {
      cell,
      blockId: meta?.block_id ?? null,
      version: meta?.version ?? 0,
      kind: kindOf(cell),
      timer: 0,
      dirty: false,
      removed: false
    };
    this._byCell.set(cell, t);
    cell.sharedModel.changed.connect((_, change) => {
      if (
        change.sourceChange &&
        !this._remote &&
        this._byCell.get(cell) === t
      ) {
        this.sourceEdited(t);
      }
    });
    return t;
  }

  private sourceEdited(t: ITracked): void {
    if (this.readOnly) {
      return;
    }
    t.dirty = true;
    if (t.blockId !== null) {
      this._edited.emit(t.blockId);
    }
    window.clearTimeout(t.timer);
    t.timer = window.setTimeout(
      () => this.enqueue(() => this.saveSource(t)),
      SAVE_DELAY_MS
    );
  }

  /**
   * JupyterLab reports cell changes as adds and removes only (a move or a type
   * change is a remove and an add of a new cell model with the same metadata,
   * and removed cells come as `undefined`), so the cells are reconciled with
   * what is tracked once the change is complete.
   */
  private onCellsChanged(): void {
    if (this.readOnly) {
      return;
    }
    const local = this._remote === 0;
    if (this._reconcile === null) {
      this._reconcileLocal = local;
      this._reconcile = Promise.resolve().then(() => {
        this._reconcile = null;
        if (!this._disposed) {
          this.reconcile(this._reconcileLocal);
        }
      });
    } else {
      this._reconcileLocal &&= local;
    }
  }

  /** Match cells to blocks; `local`: the user's change, to send to the server. */
  private reconcile(local: boolean): void {
    const present = new Set<ICellModel>(this.model.cells);
    const gone = new Map<number, ITracked>();
    for (const [cell, t] of this._byCell) {
      if (!present.has(cell)) {
        this._byCell.delete(cell);
        t.removed = true;
        window.clearTimeout(t.timer);
        if (t.blockId !== null) {
          gone.set(t.blockId, t);
        }
      }
    }
    for (const cell of this.model.cells) {
      if (this._byCell.has(cell)) {
        continue;
      }
      const meta = cell.getMetadata(META) as ICellBlockMeta | undefined;
      const owner = meta ? gone.get(meta.block_id) : undefined;
      if (meta && owner) {
        // The same block in a new cell model: moved, or its type changed.
        gone.delete(meta.block_id);
        const t = this.track(cell, meta);
        t.version = owner.version;
        t.kind = owner.kind; // the block's kind on the server, until saved
        t.dirty = owner.dirty;
        if (local) {
          // Its place may have changed (a type change keeps it: the server
          // answers that move as a no-op).
          this.enqueue(() => this.move(t));
          if (kindOf(cell) !== owner.kind || t.dirty) {
            t.dirty = true;
            this.enqueue(() => this.saveSource(t));
          }
        }
        continue;
      }
      if (!local) {
        this.track(cell, meta);
        continue;
      }
      // A new cell, or a copy of a block that is still here: a new block.
      if (meta) {
        cell.deleteMetadata(META);
      }
      const t = this.track(cell, undefined);
      this.enqueue(() => this.create(t));
    }
    if (local) {
      for (const t of gone.values()) {
        this.enqueue(() => this.remove(t));
      }
    }
  }

  /** The cell's position among cells that are blocks on the server. */
  private serverIndex(cell: ICellModel): number {
    let position = 0;
    for (const other of this.model.cells) {
      if (other === cell) {
        return position;
      }
      if (this.blockIdOf(other) !== null) {
        position++;
      }
    }
    return position;
  }

  private enqueue(call: () => Promise<void>): void {
    this._chain = this._chain.then(call).catch(err => {
      const message = err instanceof Error ? err.message : String(err);
      this._failed.emit(message);
    });
  }

  private remember(t: ITracked, block: IBlock): void {
    t.blockId = block.id;
    t.version = block.version;
    t.kind = block.kind;
    this.remote(() =>
      t.cell.setMetadata(META, { block_id: block.id, version: block.version })
    );
    this._saved.emit(block);
  }

  private async create(t: ITracked): Promise<void> {
    if (t.removed || t.blockId !== null) {
      return;
    }
    const source = t.cell.sharedModel.getSource();
    t.dirty = false;
    const block = await this.api.createBlock(
      kindOf(t.cell),
      source,
      this.serverIndex(t.cell)
    );
    this.remember(t, block);
    if (t.cell.sharedModel.getSource() !== source) {
      t.dirty = true;
      await this.saveSource(t);
    }
  }

  private async saveSource(t: ITracked, text?: string): Promise<void> {
    if (t.removed || !t.dirty) {
      return;
    }
    if (t.blockId === null) {
      return this.create(t);
    }
    const source = text ?? t.cell.sharedModel.getSource();
    const kind = t.kind === kindOf(t.cell) ? undefined : kindOf(t.cell);
    t.dirty = false;
    try {
      this.remember(
        t,
        await this.api.updateBlock(t.blockId, t.version, { source, kind })
      );
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 409) {
        t.dirty = true;
        throw err;
      }
      const theirs = await this.api.getBlock(t.blockId);
      const choice = await resolveConflict(source, theirs);
      if (choice === 'mine') {
        this.remember(
          t,
          await this.api.updateBlock(t.blockId, theirs.version, {
            source: t.cell.sharedModel.getSource(),
            kind
          })
        );
      } else {
        t.version = theirs.version - 1;
        this.remoteChanged(theirs);
      }
    }
    if (
      !t.cell.isDisposed &&
      !t.dirty &&
      t.cell.sharedModel.getSource() !== source
    ) {
      t.dirty = true;
    }
  }

  private async remove(t: ITracked): Promise<void> {
    if (t.blockId === null) {
      return;
    }
    try {
      await this.api.deleteBlock(t.blockId, t.version);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        return; // someone else deleted it first
      }
      throw err;
    }
  }

  private async move(t: ITracked): Promise<void> {
    if (t.blockId === null || t.removed) {
      return;
    }
    await this.api.moveBlock(t.blockId, this.serverIndex(t.cell));
  }

  private _disposed = false;
  private _remote = 0;
  private _chain: Promise<void> = Promise.resolve();
  private _byCell = new Map<ICellModel, ITracked>();
  private _remoteChanges: RemoteChanges;
  private _reconcile: Promise<void> | null = null;
  private _reconcileLocal = true;
  private _saved = new Signal<this, IBlock>(this);
  private _failed = new Signal<this, string>(this);
  private _edited = new Signal<this, number>(this);
}
