/**
 * The `ai-notebook:open-dag` command: open (or reveal) a project's DAG view in
 * the main area, restored after a reload through a `WidgetTracker`.
 */
import { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import { WidgetTracker } from '@jupyterlab/apputils';

import { AiNotebookAPI } from '../api';
import { dagIcon } from './icons';
import { DagView } from './view';

export namespace DagCommandIDs {
  export const open = 'ai-notebook:open-dag';
}

/** Namespace of the DAG views in the layout restorer. */
export const DAG_TRACKER_NAMESPACE = 'ai-notebook-dag';

export interface IDagCommandOptions {
  /** Jump to a block (a node was clicked). */
  openBlock(projectId: number, blockId: number): void;
  /** Tracks the open views (made here if not given). */
  tracker?: WidgetTracker<DagView>;
  /** Restores the open views after a reload. */
  restorer?: ILayoutRestorer | null;
}

function projectIdOf(args: { projectId?: unknown }): number {
  const id = Number(args.projectId);
  if (!Number.isInteger(id) || id < 1) {
    throw new Error(
      `ai-notebook:open-dag needs {projectId}: a project id, got ${String(args.projectId)}`
    );
  }
  return id;
}

export function registerDagCommands(
  app: JupyterFrontEnd,
  api: AiNotebookAPI,
  options: IDagCommandOptions
): void {
  const tracker =
    options.tracker ??
    new WidgetTracker<DagView>({ namespace: DAG_TRACKER_NAMESPACE });

  app.commands.addCommand(DagCommandIDs.open, {
    label: args =>
      args.projectId === undefined
        ? 'Open DAG'
        : `Open DAG of project ${args.projectId}`,
    caption: "Show a project's dependency graph of code blocks",
    icon: dagIcon,
    execute: async args => {
      const projectId = projectIdOf(args);
      const open = tracker.find(view => view.projectId === projectId);
      if (open) {
        app.shell.activateById(open.id);
        return open;
      }
      const view = new DagView({
        api,
        projectId,
        projectName:
          typeof args.projectName === 'string' ? args.projectName : undefined,
        openBlock: blockId => options.openBlock(projectId, blockId)
      });
      await tracker.add(view);
      app.shell.add(view, 'main');
      app.shell.activateById(view.id);
      return view;
    }
  });

  if (options.restorer) {
    void options.restorer.restore(tracker, {
      command: DagCommandIDs.open,
      args: view => ({ projectId: view.projectId }),
      name: view => String(view.projectId)
    });
  }
}
