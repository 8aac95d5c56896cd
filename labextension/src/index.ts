/**
 * The JupyterLab side of ai_notebook_ext: the projects sidebar, projects
 * opened as notebooks in the main area (a contents drive + the project
 * document), the cell executor routing project cells to the execute API, and
 * the commands other parts and tests rely on.
 */
import {
  ILabShell,
  ILayoutRestorer,
  IRouter,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette, WidgetTracker } from '@jupyterlab/apputils';
import type { ISessionContext } from '@jupyterlab/apputils';
import type { MainAreaWidget } from '@jupyterlab/apputils';
import type { Widget } from '@lumino/widgets';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { IDocumentManager } from '@jupyterlab/docmanager';
import {
  INotebookCellExecutor,
  INotebookTracker,
  NotebookPanel
} from '@jupyterlab/notebook';

import { AiNotebookAPI } from './api';
import { ProjectDrive, KERNEL_NAME, projectIdOf, projectPath } from './drive';
import { ProjectCellExecutor } from './executor';
import { RunHistory, historyWidget } from './history';
import { ScheduleView, schedulesWidget } from './schedules';
import { ArtifactLoader } from './outputs';
import { ProjectAPI } from './projectapi';
import { ProjectDocument } from './projectdoc';
import { addProjectToolbar } from './toolbar';
import { keepUrlOffDrive } from './treepath';
import { ProjectsSidebar, aiNotebookIcon } from './sidebar';
import { DAG_TRACKER_NAMESPACE, registerDagCommands } from './dag/commands';
import type { DagView } from './dag/view';
import { ProjectEvents, isOwnEvent } from './projectevents';
import { followProject, saveLayoutOnRename } from './projecttabs';
import { registerAgent } from './agent/plugin';
import { registerDatasets } from './datasets/plugin';

export namespace CommandIDs {
  export const open = 'ai-notebook:open';
  export const openProject = 'ai-notebook:open-project';
  export const openHistory = 'ai-notebook:open-history';
  export const openSchedules = 'ai-notebook:open-schedules';
}

/** Rank of the panel in the left sidebar (file browser is 100, running 200). */
const SIDEBAR_RANK = 600;

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'ai-notebook-ext:plugin',
  description:
    'AI Notebook: projects of blocks opened as notebooks, with states, DAG and pipelines.',
  autoStart: true,
  requires: [IDocumentManager, INotebookTracker, IRenderMimeRegistry],
  optional: [ICommandPalette, ILayoutRestorer, ILabShell, IRouter],
  activate: (
    app: JupyterFrontEnd,
    docManager: IDocumentManager,
    tracker: INotebookTracker,
    rendermime: IRenderMimeRegistry,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null,
    labShell: ILabShell | null,
    router: IRouter | null
  ): void => {
    if (labShell && router) {
      keepUrlOffDrive(labShell, router);
    }
    if (labShell && restorer) {
      saveLayoutOnRename(tracker, restorer, labShell);
    }
    const api = new AiNotebookAPI(app.serviceManager.serverSettings);
    const drive = new ProjectDrive(api, new ArtifactLoader(api));
    app.serviceManager.contents.addDrive(drive);

    const documents = new Map<NotebookPanel, ProjectDocument>();
    const bind = (panel: NotebookPanel): ProjectDocument | undefined => {
      const projectId = projectIdOf(panel.context.path);
      if (projectId === null) {
        return undefined;
      }
      let doc = documents.get(panel);
      if (!doc) {
        // Attach to the project kernel ourselves, never start another one.
        const preference = panel.sessionContext.kernelPreference;
        if (!preference.id) {
          panel.sessionContext.kernelPreference = {
            ...preference,
            shouldStart: false,
            canStart: false,
            autoStartDefault: false
          };
        }
        doc = new ProjectDocument(panel, projectId, api, drive);
        documents.set(panel, doc);
        panel.disposed.connect(() => documents.delete(panel));
        const bound = doc;
        void doc.ready.then(() => addProjectToolbar(app, bound));
      }
      return doc;
    };
    tracker.widgetAdded.connect((_, panel) => void bind(panel));
    tracker.forEach(panel => void bind(panel));

    app.commands.addCommand(CommandIDs.openProject, {
      label: 'Open AI Notebook project',
      execute: async args => {
        const projectId = Number(args.projectId);
        if (!Number.isInteger(projectId) || projectId <= 0) {
          throw new Error('ai-notebook:open-project needs {projectId}');
        }
        const open = tracker.find(
          p => projectIdOf(p.context.path) === projectId
        );
        const project = open ? null : await api.getProject(projectId);
        // Editors open the notebook with its session on the project kernel from
        // the start: the widget manager binds to the session once it is ready.
        let kernelPreference: ISessionContext.IKernelPreference | undefined;
        if (project && project.role !== 'viewer') {
          const kernel = await new ProjectAPI(api, projectId)
            .startKernel()
            .catch(() => null);
          if (kernel?.kernel_id) {
            kernelPreference = {
              id: kernel.kernel_id,
              name: KERNEL_NAME,
              shouldStart: true,
              canStart: true,
              autoStartDefault: false
            };
          }
        }
        const widget =
          open ??
          (docManager.openOrReveal(
            projectPath(projectId, project!.name),
            'Notebook',
            undefined,
            {},
            kernelPreference
          ) as NotebookPanel | undefined);
        if (!widget) {
          throw new Error(`Could not open project ${projectId}`);
        }
        app.shell.activateById(widget.id);
        const doc = bind(widget);
        if (doc && args.blockId !== undefined) {
          await doc.reveal(Number(args.blockId));
        }
        await doc?.ready;
        return widget.id;
      }
    });

    /**
     * The caller's right to edit a project: the open notebook's role, else the
     * server's answer (a tab restored after a reload has no notebook yet).
     */
    const canEdit = async (projectId: number): Promise<boolean> => {
      const doc = [...documents.values()].find(d => d.projectId === projectId);
      if (doc) {
        return doc.role !== 'viewer';
      }
      return api
        .getProject(projectId)
        .then(p => p.role !== 'viewer')
        .catch(() => false);
    };

    type RefreshingTab = MainAreaWidget<Widget & { refresh(): Promise<void> }>;
    /**
     * Show the tab of `tracker` that `match` picks (activated, refreshed), or
     * add the one `create` makes, split right, following its project
     * (`refreshOnRename`: its content shows the project's name).
     */
    const showTab = async <W extends RefreshingTab>(
      tracker: WidgetTracker<W>,
      match: (widget: W) => boolean,
      projectId: number,
      create: (editable: boolean) => W,
      refreshOnRename = false
    ): Promise<void> => {
      const existing = tracker.find(match);
      if (existing) {
        app.shell.activateById(existing.id);
        void existing.content.refresh();
        return;
      }
      const editable = await canEdit(projectId);
      const opened = tracker.find(match); // while the role was asked
      if (opened) {
        app.shell.activateById(opened.id);
        return;
      }
      const widget = create(editable);
      followProject(widget, api.settings, projectId, {
        renamed: refreshOnRename
          ? () => void widget.content.refresh()
          : undefined
      });
      void tracker.add(widget);
      app.shell.add(widget, 'main', { mode: 'split-right' });
    };

    const histories = new WidgetTracker<MainAreaWidget<RunHistory>>({
      namespace: 'ai-notebook-history'
    });
    app.commands.addCommand(CommandIDs.openHistory, {
      label: 'Block run history',
      execute: async args => {
        const projectId = Number(args.projectId);
        const blockId = Number(args.blockId);
        if (!Number.isInteger(blockId) || blockId <= 0) {
          throw new Error('Select a block to see its run history.');
        }
        await showTab(
          histories,
          w => w.content.blockId === blockId,
          projectId,
          editable =>
            historyWidget(
              new RunHistory(
                new ProjectAPI(api, projectId),
                blockId,
                rendermime,
                drive.loader,
                editable
              )
            )
        );
      }
    });

    const schedules = new WidgetTracker<MainAreaWidget<ScheduleView>>({
      namespace: 'ai-notebook-schedules'
    });
    app.commands.addCommand(CommandIDs.openSchedules, {
      label: 'Project schedules',
      execute: async args => {
        const projectId = Number(args.projectId);
        await showTab(
          schedules,
          w => w.content.projectId === projectId,
          projectId,
          editable =>
            schedulesWidget(new ScheduleView(api, projectId, editable)),
          true
        );
      }
    });

    if (restorer) {
      // Open tabs come back after a reload, like the notebook, DAG and datasets.
      void restorer.restore(histories, {
        command: CommandIDs.openHistory,
        args: w => ({
          projectId: w.content.projectId,
          blockId: w.content.blockId
        }),
        name: w => `${w.content.projectId}-${w.content.blockId}`
      });
      void restorer.restore(schedules, {
        command: CommandIDs.openSchedules,
        args: w => ({ projectId: w.content.projectId }),
        name: w => String(w.content.projectId)
      });
    }

    const sidebar = new ProjectsSidebar(
      api,
      projectId =>
        void app.commands.execute(CommandIDs.openProject, { projectId })
    );
    app.shell.add(sidebar, 'left', { rank: SIDEBAR_RANK });
    if (restorer) {
      restorer.add(sidebar, sidebar.id);
    }
    app.commands.addCommand(CommandIDs.open, {
      label: 'Open AI Notebook panel',
      caption: 'Show the AI Notebook projects sidebar',
      icon: aiNotebookIcon,
      execute: () => app.shell.activateById(sidebar.id)
    });
    if (palette) {
      palette.addItem({ command: CommandIDs.open, category: 'AI Notebook' });
    }

    const dags = new WidgetTracker<DagView>({
      namespace: DAG_TRACKER_NAMESPACE
    });
    registerDagCommands(app, api, {
      restorer,
      tracker: dags,
      openBlock: (projectId, blockId) =>
        void app.commands.execute(CommandIDs.openProject, {
          projectId,
          blockId
        })
    });
    // DAG views follow the project's event stream: live run states, and a
    // fresh layout when blocks or edges change.
    dags.widgetAdded.connect((_, view) => {
      followProject(view, api.settings, view.projectId, {
        renamed: name => view.setProjectName(name)
      });
      const events = ProjectEvents.acquire(api.settings, view.projectId);
      let timer = 0;
      events.received.connect((__, event) => {
        if (event.type === 'run-status' && typeof event.block_id === 'number') {
          view.applyRunStatus(event.block_id, String(event.status));
          if (!['queued', 'running'].includes(String(event.status))) {
            window.clearTimeout(timer);
            timer = window.setTimeout(() => void view.refresh(), 300);
          }
        } else if (
          /^(block|blocks|edge|dag|kernel)-/.test(event.type) &&
          !isOwnEvent(event)
        ) {
          window.clearTimeout(timer);
          timer = window.setTimeout(() => void view.refresh(), 300);
        }
      }, view);
      view.disposed.connect(() => events.release());
    });

    registerAgent(app, tracker, rendermime, restorer, palette);
    registerDatasets(app, tracker, restorer, palette);
  }
};

/** Runs project cells through the execute API, others as usual. */
const executor: JupyterFrontEndPlugin<INotebookCellExecutor> = {
  id: 'ai-notebook-ext:cell-executor',
  description: 'Runs cells of AI Notebook projects as recorded block runs.',
  autoStart: true,
  provides: INotebookCellExecutor,
  activate: (): INotebookCellExecutor =>
    new ProjectCellExecutor(options =>
      ProjectDocument.forModel(options.notebook)
    )
};

export default [plugin, executor];
