import {
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IRenderMimeRegistry } from '@jupyterlab/rendermime';

import { AiNotebookAPI } from './api';
import { AiNotebookPanel, PANEL_ID, aiNotebookIcon } from './panel';
import { registerDagCommands } from './dag/commands';

export namespace CommandIDs {
  export const open = 'ai-notebook:open';
}

/** Opens a project in the main area (from the project document plugin). */
const OPEN_PROJECT = 'ai-notebook:open-project';

/** Rank of the panel in the left sidebar (file browser is 100, running 200). */
const SIDEBAR_RANK = 600;

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'ai-notebook-ext:plugin',
  description:
    'AI Notebook sidebar panel: projects, their blocks, runs and outputs.',
  autoStart: true,
  requires: [IRenderMimeRegistry],
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    app: JupyterFrontEnd,
    rendermime: IRenderMimeRegistry,
    palette: ICommandPalette | null,
    restorer: ILayoutRestorer | null
  ): void => {
    const api = new AiNotebookAPI(app.serviceManager.serverSettings);
    const panel = new AiNotebookPanel({
      api,
      rendermime,
      events: app.serviceManager.events
    });

    app.shell.add(panel, 'left', { rank: SIDEBAR_RANK });
    if (restorer) {
      // Remembers whether the panel was the open sidebar tab.
      restorer.add(panel, PANEL_ID);
    }

    app.commands.addCommand(CommandIDs.open, {
      label: 'Open AI Notebook panel',
      caption: 'Show the AI Notebook sidebar panel',
      icon: aiNotebookIcon,
      execute: () => {
        app.shell.activateById(panel.id);
      }
    });

    if (palette) {
      palette.addItem({ command: CommandIDs.open, category: 'AI Notebook' });
    }

    registerDagCommands(app, api, {
      restorer,
      openBlock: (projectId, blockId) => {
        if (app.commands.hasCommand(OPEN_PROJECT)) {
          void app.commands.execute(OPEN_PROJECT, { projectId, blockId });
        } else {
          app.shell.activateById(panel.id);
        }
      }
    });
  }
};

export default plugin;
