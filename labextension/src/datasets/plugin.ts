/**
 * Commands of the datasets UI, and their tabs restored after a reload:
 *
 * - `ai-notebook:open-datasets` `{projectId, datasetId?, tab?}`: the project's
 *   datasets panel in the main area;
 * - `ai-notebook:open-dataset-report` `{projectId, datasetId, version, name?}`:
 *   a version's full report in a tab;
 * - `ai-notebook:insert-dataset-block` `{projectId, name}`: opens the project
 *   and adds a code cell `name = ain.load("name")` below the active cell, through
 *   the notebook model, so the project's block sync saves it as a block.
 */
import type { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import type { ICommandPalette } from '@jupyterlab/apputils';
import { WidgetTracker } from '@jupyterlab/apputils';
import type { INotebookTracker } from '@jupyterlab/notebook';

import { projectIdOf } from '../drive';
import { followProject } from '../projecttabs';
import { datasetIcon } from './icons';
import { DatasetsPanel } from './panel';
import type { DetailTab } from './detail';
import { ReportView } from './report';
import { loadingCode } from './loading';

export namespace DatasetCommandIDs {
  export const open = 'ai-notebook:open-datasets';
  export const report = 'ai-notebook:open-dataset-report';
  export const insert = 'ai-notebook:insert-dataset-block';
}
const OPEN_PROJECT = 'ai-notebook:open-project';

function positive(value: unknown, what: string, command: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`${command} needs {${what}}: got ${String(value)}`);
  }
  return n;
}

export function registerDatasets(
  app: JupyterFrontEnd,
  notebooks: INotebookTracker,
  restorer: ILayoutRestorer | null,
  palette: ICommandPalette | null
): void {
  const settings = app.serviceManager.serverSettings;
  const panels = new WidgetTracker<DatasetsPanel>({
    namespace: 'ai-notebook-datasets'
  });
  const reports = new WidgetTracker<ReportView>({
    namespace: 'ai-notebook-dataset-report'
  });

  app.commands.addCommand(DatasetCommandIDs.open, {
    label: 'Datasets',
    caption: "Open the project's datasets: upload, profile, quality, lineage",
    icon: datasetIcon,
    execute: async args => {
      const current = notebooks.currentWidget;
      const projectId = positive(
        args.projectId ?? (current ? projectIdOf(current.context.path) : null),
        'projectId',
        DatasetCommandIDs.open
      );
      let panel = panels.find(p => p.projectId === projectId);
      if (!panel) {
        panel = new DatasetsPanel(settings, projectId, {
          insert: name =>
            void app.commands.execute(DatasetCommandIDs.insert, {
              projectId,
              name
            }),
          report: (datasetId, version, name) =>
            void app.commands.execute(DatasetCommandIDs.report, {
              projectId,
              datasetId,
              version,
              name
            }),
          openBlock: blockId =>
            void app.commands.execute(OPEN_PROJECT, { projectId, blockId }),
          openProject: (other, datasetId) =>
            void app.commands.execute(DatasetCommandIDs.open, {
              projectId: other,
              datasetId
            })
        });
        const added = panel;
        followProject(panel, settings, projectId, {
          renamed: name => (added.title.label = `Datasets · ${name}`)
        });
        await panels.add(panel);
        app.shell.add(panel, 'main');
      }
      app.shell.activateById(panel.id);
      await panel.ready;
      if (args.datasetId !== undefined) {
        await panel.select(
          Number(args.datasetId),
          args.tab as DetailTab | undefined
        );
      }
      return panel.id;
    }
  });

  app.commands.addCommand(DatasetCommandIDs.report, {
    label: 'Full dataset report',
    icon: datasetIcon,
    execute: async args => {
      const projectId = positive(
        args.projectId,
        'projectId',
        DatasetCommandIDs.report
      );
      const datasetId = positive(
        args.datasetId,
        'datasetId',
        DatasetCommandIDs.report
      );
      const version = positive(
        args.version,
        'version',
        DatasetCommandIDs.report
      );
      let view = reports.find(
        r =>
          r.projectId === projectId &&
          r.datasetId === datasetId &&
          r.version === version
      );
      if (!view) {
        view = new ReportView(
          settings,
          projectId,
          datasetId,
          version,
          typeof args.name === 'string' ? args.name : ''
        );
        followProject(view, settings, projectId);
        await reports.add(view);
        app.shell.add(view, 'main', { mode: 'split-right' });
      }
      app.shell.activateById(view.id);
      return view.id;
    }
  });

  app.commands.addCommand(DatasetCommandIDs.insert, {
    label: 'Insert a block loading a dataset',
    execute: async args => {
      const projectId = positive(
        args.projectId,
        'projectId',
        DatasetCommandIDs.insert
      );
      const name = String(args.name ?? '');
      if (!name) {
        throw new Error(`${DatasetCommandIDs.insert} needs {name}`);
      }
      const widgetId = (await app.commands.execute(OPEN_PROJECT, {
        projectId
      })) as string;
      const panel = notebooks.find(w => w.id === widgetId);
      const notebook = panel?.content;
      if (!notebook?.model) {
        throw new Error(`project ${projectId} is not open`);
      }
      const index = Math.min(
        notebook.activeCellIndex + 1,
        notebook.model.sharedModel.cells.length
      );
      notebook.model.sharedModel.insertCell(Math.max(0, index), {
        cell_type: 'code',
        source: loadingCode(name),
        metadata: {}
      });
      notebook.activeCellIndex = index;
      notebook.deselectAll();
      await notebook.scrollToItem(index, 'center');
      return index;
    }
  });

  if (restorer) {
    void restorer.restore(panels, {
      command: DatasetCommandIDs.open,
      args: p => ({ projectId: p.projectId }),
      name: p => String(p.projectId)
    });
    void restorer.restore(reports, {
      command: DatasetCommandIDs.report,
      args: r => ({
        projectId: r.projectId,
        datasetId: r.datasetId,
        version: r.version
      }),
      name: r => `${r.projectId}-${r.datasetId}-${r.version}`
    });
  }
  if (palette) {
    palette.addItem({
      command: DatasetCommandIDs.open,
      category: 'AI Notebook'
    });
  }
}
