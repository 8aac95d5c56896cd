/**
 * Wires the agent panel into JupyterLab: the right-sidebar panel following
 * the active project notebook, and the command `ai-notebook:open-agent`
 * (`{projectId}`: opens the project if needed and shows the panel).
 */
import type { ILayoutRestorer, JupyterFrontEnd } from '@jupyterlab/application';
import type { ICommandPalette } from '@jupyterlab/apputils';
import type { INotebookTracker, NotebookPanel } from '@jupyterlab/notebook';
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { projectIdOf } from '../drive';
import { AgentPanel, agentIcon } from './panel';

export const OPEN_AGENT = 'ai-notebook:open-agent';
const OPEN_PROJECT = 'ai-notebook:open-project';
/** Rank in the right sidebar (property inspector is 100, debugger 1000). */
const RANK = 600;

export function registerAgent(
  app: JupyterFrontEnd,
  tracker: INotebookTracker,
  rendermime: IRenderMimeRegistry,
  restorer: ILayoutRestorer | null,
  palette: ICommandPalette | null
): AgentPanel {
  const panel = new AgentPanel(
    app.serviceManager.serverSettings,
    rendermime,
    (projectId, blockId) =>
      void app.commands.execute(OPEN_PROJECT, { projectId, blockId })
  );
  app.shell.add(panel, 'right', { rank: RANK });
  if (restorer) {
    restorer.add(panel, panel.id);
  }

  const follow = (widget: NotebookPanel | null) => {
    const projectId = widget ? projectIdOf(widget.context.path) : null;
    if (widget && projectId !== null) {
      void panel.setProject(projectId, widget.title.label);
    }
  };
  tracker.currentChanged.connect((_, widget) => follow(widget));
  follow(tracker.currentWidget);

  app.commands.addCommand(OPEN_AGENT, {
    label: 'Open the AI agent of this project',
    caption: 'Chat with the agent that creates, edits and runs blocks',
    icon: agentIcon,
    execute: async args => {
      const current = tracker.currentWidget;
      const projectId =
        args.projectId !== undefined
          ? Number(args.projectId)
          : current
            ? projectIdOf(current.context.path)
            : null;
      if (!projectId || !Number.isInteger(projectId) || projectId <= 0) {
        throw new Error('ai-notebook:open-agent needs {projectId}');
      }
      const widgetId = (await app.commands.execute(OPEN_PROJECT, {
        projectId
      })) as string;
      const widget = tracker.find(w => w.id === widgetId);
      await panel.setProject(projectId, widget?.title.label ?? '');
      app.shell.activateById(panel.id);
      return panel.id;
    }
  });
  if (palette) {
    palette.addItem({ command: OPEN_AGENT, category: 'AI Notebook' });
  }
  return panel;
}
