/**
 * Tabs that belong to one project (its notebook, datasets, reports, block
 * histories, schedules, DAG) follow the project: a rename retitles them, and
 * a deletion, or the user's removal from the project, closes them. The user
 * hears of it once per project, whichever tabs were open. A renamed project's
 * notebook is restored under its new path after a reload.
 */
import type {
  ILabShell,
  ILayoutRestorer,
  LayoutRestorer
} from '@jupyterlab/application';
import { Notification } from '@jupyterlab/apputils';
import type { INotebookTracker } from '@jupyterlab/notebook';
import type { ServerConnection } from '@jupyterlab/services';
import type { Widget } from '@lumino/widgets';

import { projectIdOf } from './drive';
import { ProjectEvents } from './projectevents';
import type { ConnectionState, IProjectEvent } from './projectevents';

/** Projects whose end the user was told of (one toast, however many tabs). */
const told = new Set<number>();

/** Say once that a project is gone for this user. */
export function tellProjectGone(projectId: number, deleted: boolean): void {
  if (told.has(projectId)) {
    return;
  }
  told.add(projectId);
  Notification.warning(
    deleted
      ? 'This project was deleted: its tabs were closed.'
      : 'This project was deleted, or you were removed from it: its tabs were closed.',
    { autoClose: 8000 }
  );
}

export interface IFollowOptions {
  /** The project's new name (after a rename by anyone). */
  renamed?(name: string): void;
  /** How to close the tab (default: close and dispose it). */
  close?(): void;
}

/**
 * Keep `widget` (a main-area tab) in step with its project until the widget
 * is disposed.
 */
export function followProject(
  widget: Widget,
  settings: ServerConnection.ISettings,
  projectId: number,
  options: IFollowOptions = {}
): void {
  const events = ProjectEvents.acquire(settings, projectId);
  const gone = (deleted: boolean) => {
    tellProjectGone(projectId, deleted);
    if (options.close) {
      options.close();
    } else {
      widget.close();
      widget.dispose();
    }
  };
  const onEvent = (_: ProjectEvents, event: IProjectEvent) => {
    if (event.type === 'project-deleted') {
      gone(true);
    } else if (event.type === 'project-changed') {
      const name = (event.project as { name?: unknown } | undefined)?.name;
      if (typeof name === 'string' && name) {
        options.renamed?.(name);
      }
    }
  };
  const onState = (_: ProjectEvents, state: ConnectionState) => {
    if (state === 'refused') {
      gone(false);
    }
  };
  events.received.connect(onEvent);
  events.connectionChanged.connect(onState);
  if (events.state === 'refused') {
    // A refused stream says nothing more: tell this follower now, once its
    // caller has added the tab.
    window.setTimeout(() => onState(events, 'refused'), 0);
  }
  widget.disposed.connect(() => {
    events.received.disconnect(onEvent);
    events.connectionChanged.disconnect(onState);
    events.release();
  });
}

/**
 * A renamed project's notebook has a new path. The notebook tracker saves it
 * under its new name at once, but the saved layout still names the old one
 * until the layout changes, so a reload would restore no tab. Save the layout
 * when a project notebook's restore data changes.
 */
export function saveLayoutOnRename(
  tracker: INotebookTracker,
  restorer: ILayoutRestorer,
  shell: ILabShell
): void {
  const saver = restorer as Partial<Pick<LayoutRestorer, 'save'>>;
  if (typeof saver.save !== 'function') {
    return;
  }
  const save = saver.save.bind(restorer);
  tracker.widgetUpdated.connect((_, panel) => {
    if (projectIdOf(panel.context.path) !== null) {
      void restorer.restored.then(() => save(shell.saveLayout()));
    }
  });
}
