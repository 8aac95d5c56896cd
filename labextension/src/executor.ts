/**
 * The notebook cell executor: cells of project notebooks run through the
 * project's execute API (recorded runs, DAG states); every other notebook
 * keeps JupyterLab's default `runCell`.
 */
import { runCell } from '@jupyterlab/notebook';
import type { INotebookCellExecutor } from '@jupyterlab/notebook';

import type { ProjectDocument } from './projectdoc';

export class ProjectCellExecutor implements INotebookCellExecutor {
  constructor(
    private readonly find: (
      options: INotebookCellExecutor.IRunCellOptions
    ) => ProjectDocument | undefined
  ) {}

  async runCell(
    options: INotebookCellExecutor.IRunCellOptions
  ): Promise<boolean> {
    const doc = this.find(options);
    if (!doc) {
      return runCell(options);
    }
    const { cell, onCellExecuted, onCellExecutionScheduled } = options;
    if (cell.model.type !== 'code') {
      // Markdown renders, as in any notebook.
      return runCell(options);
    }
    if (doc.role === 'viewer') {
      onCellExecuted({ cell, success: false });
      return false;
    }
    onCellExecutionScheduled({ cell });
    let success = false;
    try {
      success = await doc.execute(cell);
    } finally {
      onCellExecuted({ cell, success });
    }
    return success;
  }
}
