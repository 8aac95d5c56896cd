/**
 * Other users' block changes (from the project event stream) applied to a
 * project notebook's cells without being saved back: a new block becomes a
 * cell at its place, a change replaces the text unless this user has unsaved
 * text there (their save then meets a 409 and they choose), a deleted block's
 * cell goes, and a new order moves cells.
 */
import type { ICellModel } from '@jupyterlab/cells';
import type { INotebookModel } from '@jupyterlab/notebook';

import type { IBlock } from './api';
import type { ITracked } from './blocksync';
import { CELL_META as META } from './drive';
import type { ICellBlockMeta } from './drive';

/** What of BlockSync the remote changes use. */
export interface IRemoteTarget {
  model: INotebookModel;
  cellOf(blockId: number): ICellModel | undefined;
  tracked(cell: ICellModel): ITracked | undefined;
  track(cell: ICellModel, meta: ICellBlockMeta): void;
  forget(cell: ICellModel): void;
  /** Run a change of the notebook that is not to be saved back. */
  remote(change: () => void): void;
}

export class RemoteChanges {
  constructor(private readonly target: IRemoteTarget) {}

  created(block: IBlock): void {
    const { model } = this.target;
    if (this.target.cellOf(block.id)) {
      return;
    }
    const index = Math.min(block.position, model.cells.length);
    this.target.remote(() => {
      model.sharedModel.insertCell(index, {
        cell_type: block.kind,
        source: block.source,
        metadata: { [META]: { block_id: block.id, version: block.version } }
      });
    });
    this.target.track(model.cells.get(index), {
      block_id: block.id,
      version: block.version
    });
  }

  changed(block: IBlock): void {
    const cell = this.target.cellOf(block.id);
    const t = cell && this.target.tracked(cell);
    if (!cell || !t || block.version <= t.version) {
      return;
    }
    if (block.kind !== t.kind) {
      this.deleted(block.id);
      this.created(block);
      return;
    }
    if (t.dirty) {
      // Our unsaved text wins until it is saved: that save meets a 409 and
      // the user chooses.
      return;
    }
    t.version = block.version;
    this.target.remote(() => {
      if (cell.sharedModel.getSource() !== block.source) {
        cell.sharedModel.setSource(block.source);
      }
      cell.setMetadata(META, { block_id: block.id, version: block.version });
    });
  }

  deleted(blockId: number): void {
    const cell = this.target.cellOf(blockId);
    if (!cell) {
      return;
    }
    const index = this.indexOf(cell);
    this.target.forget(cell);
    if (index >= 0) {
      this.target.remote(() => this.target.model.sharedModel.deleteCell(index));
    }
  }

  /** Reorder cells to the server's order of block ids. */
  moved(order: number[]): void {
    const { model } = this.target;
    this.target.remote(() => {
      order.forEach((blockId, target) => {
        const cell = this.target.cellOf(blockId);
        const from = cell ? this.indexOf(cell) : -1;
        if (from >= 0 && from !== target && target < model.cells.length) {
          model.sharedModel.moveCell(from, target);
        }
      });
    });
  }

  private indexOf(cell: ICellModel): number {
    const cells = this.target.model.cells;
    for (let i = 0; i < cells.length; i++) {
      if (cells.get(i) === cell) {
        return i;
      }
    }
    return -1;
  }
}
