/**
 * Pipeline controls in a project notebook's toolbar: run stale, the "Run ▾"
 * menu (all, upstream / downstream of the active block, the selected blocks;
 * parallel workers and retries: runmenu.ts), stop; live progress and a
 * summary at the end; buttons for the DAG, datasets, schedules and the active
 * block's run history. One pipeline at a time per view.
 */
import type { JupyterFrontEnd } from '@jupyterlab/application';
import { Notification, ToolbarButton } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { errorMessage } from './dom';
import type {
  IPipelineRequest,
  IPipelineRun,
  PipelineTarget
} from './projectapi';
import type { IProjectEvent } from './projectevents';
import type { ProjectDocument } from './projectdoc';
import { IPipelineOptions, runMenuButton, savedOptions } from './runmenu';

const DONE = new Set(['succeeded', 'failed', 'cancelled', 'interrupted']);
/** How long a pipeline's summary stays in the toolbar after its end. */
const PROGRESS_LINGER_MS = 15000;

/** The progress line of this view's pipeline. */
class PipelineStatus extends Widget {
  constructor() {
    super();
    this.addClass('ainb-pipeline-status');
    this.progress = document.createElement('span');
    this.progress.className = 'ainb-pipeline-progress';
    this.node.append(this.progress);
  }

  readonly progress: HTMLSpanElement;
}

export function addProjectToolbar(
  app: JupyterFrontEnd,
  doc: ProjectDocument
): void {
  const toolbar = doc.panel.toolbar;
  const status = new PipelineStatus();
  const options: IPipelineOptions = savedOptions();
  let pipeline: IPipelineRun | null = null;
  const counts = new Map<number, string>();

  const render = (): void => {
    if (!pipeline) {
      status.progress.textContent = '';
      return;
    }
    const plan = pipeline.plan?.length ?? counts.size;
    const tally = (s: string) =>
      [...counts.values()].filter(v => v === s).length;
    const done = tally('succeeded') + tally('failed') + tally('skipped');
    const failed = tally('failed');
    status.progress.textContent =
      `pipeline ${done}/${plan}` + (failed ? ` · ${failed} failed` : '');
    status.progress.dataset.status = pipeline.status;
  };

  /** Whether this view's pipeline still runs (asking the server when unsure). */
  const running = async (): Promise<boolean> => {
    if (!pipeline || DONE.has(pipeline.status)) {
      return false;
    }
    const run = await doc.project.run(pipeline.id).catch(() => null);
    if (run && DONE.has(run.status)) {
      pipeline = run as IPipelineRun;
      return false;
    }
    return true;
  };

  let starting = false;
  const start = async (target: PipelineTarget): Promise<void> => {
    if (starting) {
      return; // a double click: the first click's pipeline is on its way
    }
    starting = true;
    try {
      if (await running()) {
        Notification.info(
          'A pipeline is already running: wait for it, or press ■ Stop.',
          { autoClose: 5000 }
        );
        return;
      }
      await startPipeline(target);
    } finally {
      starting = false;
    }
  };

  const startPipeline = async (target: PipelineTarget): Promise<void> => {
    const request: IPipelineRequest = {
      target,
      parallel: options.parallel,
      retries: options.retries
    };
    const active = doc.panel.content.activeCell;
    const activeId = active ? doc.blockIdOf(active.model) : null;
    if (target === 'upstream' || target === 'downstream') {
      if (activeId === null) {
        Notification.warning('Select a block first.', { autoClose: 4000 });
        return;
      }
      request.block_id = activeId;
    } else if (target === 'blocks') {
      request.block_ids = doc.panel.content.widgets
        .filter(w => doc.panel.content.isSelectedOrActive(w))
        .map(w => doc.blockIdOf(w.model))
        .filter((id): id is number => id !== null);
    }
    try {
      await doc.sync?.idle();
      counts.clear();
      early.length = 0;
      pipeline = await doc.project.pipeline(request);
      if (!pipeline.plan?.length) {
        pipeline = null;
        early.length = 0;
        render();
        Notification.info(
          target === 'stale'
            ? 'Nothing is stale: every block is fresh.'
            : 'Nothing to run.',
          { autoClose: 4000 }
        );
        return;
      }
      for (const id of pipeline.plan ?? []) {
        counts.set(id, 'pending');
      }
      render();
      early.splice(0).forEach(handle);
    } catch (err) {
      Notification.error(`Pipeline not started: ${errorMessage(err)}`, {
        autoClose: 8000
      });
    }
  };

  const finish = async (runId: number): Promise<void> => {
    const run = await doc.project.run(runId).catch(() => null);
    if (!run || pipeline?.id !== runId) {
      return;
    }
    pipeline = run as IPipelineRun;
    const results = pipeline.results ?? [];
    const tally = (s: string) => results.filter(r => r.status === s).length;
    const notRun = (pipeline.plan?.length ?? results.length) - results.length;
    const summary =
      `Pipeline ${run.status}: ${tally('succeeded')} succeeded, ` +
      `${tally('failed')} failed, ${tally('skipped')} skipped` +
      (tally('cancelled') ? `, ${tally('cancelled')} cancelled` : '') +
      (tally('pending') + notRun > 0
        ? `, ${tally('pending') + notRun} not run`
        : '');
    // Short in the toolbar (it shares the row with JupyterLab's items); the
    // whole summary in its tooltip and the notification.
    status.progress.textContent =
      `pipeline ${run.status}` +
      (tally('failed') ? ` · ${tally('failed')} failed` : '') +
      (tally('skipped') ? ` · ${tally('skipped')} skipped` : '');
    status.progress.title = summary;
    status.progress.dataset.status = run.status;
    // The cells show what happened; the line goes after a while so that it does
    // not keep the toolbar's other items in its overflow.
    window.setTimeout(() => {
      if (pipeline?.id === runId) {
        status.progress.textContent = '';
      }
    }, PROGRESS_LINGER_MS);
    const notify =
      run.status === 'succeeded' ? Notification.success : Notification.warning;
    notify(summary, { autoClose: 6000 });
  };

  // Events of a pipeline that arrive before the answer that starts it (a short
  // pipeline may end first): kept, then replayed once its id is known.
  const early: IProjectEvent[] = [];
  const handle = (event: IProjectEvent): void => {
    if (!pipeline) {
      return;
    }
    if (event.type === 'pipeline-block' && event.run_id === pipeline.id) {
      counts.set(event.block_id as number, String(event.status));
      render();
    } else if (
      event.type === 'run-status' &&
      event.run_id === pipeline.id &&
      DONE.has(String(event.status))
    ) {
      void finish(pipeline.id);
    }
  };
  doc.events.received.connect((_, event: IProjectEvent) => {
    const mine = event.type === 'pipeline-block' || event.type === 'run-status';
    if (mine && starting && event.run_id !== pipeline?.id) {
      early.push(event);
    }
    handle(event);
  });

  const button = (
    name: string,
    label: string,
    tooltip: string,
    onClick: () => void
  ) =>
    toolbar.addItem(
      name,
      new ToolbarButton({
        label,
        tooltip,
        onClick,
        className: `ainb-tb-${name}`
      })
    );

  if (doc.role !== 'viewer') {
    // Before the buttons: the toolbar's right side grows leftwards, so the
    // changing text does not move the buttons under the pointer.
    toolbar.addItem('pipeline-progress', status);
    button(
      'run-stale',
      '▶ Stale',
      'Run stale blocks and what depends on them',
      () => void start('stale')
    );
    toolbar.addItem(
      'run-menu',
      runMenuButton(options, target => void start(target))
    );
    button(
      'stop',
      '■ Stop',
      'Stop the pipeline (or interrupt the kernel)',
      () => {
        if (pipeline && !DONE.has(pipeline.status)) {
          void doc.project
            .cancel(pipeline.id)
            .catch(err =>
              Notification.error(errorMessage(err), { autoClose: 6000 })
            );
        } else {
          void doc.project.interruptKernel();
        }
      }
    );
  }
  const presence = new Widget();
  presence.addClass('ainb-presence');
  const showPresence = (): void => {
    const others = doc.events.presence.filter(
      p => p.username !== doc.events.username
    );
    presence.node.textContent = others.length
      ? `also here: ${others.map(p => p.display_name || p.username).join(', ')}`
      : '';
    presence.node.title = others.map(p => p.username).join(', ');
  };
  doc.events.received.connect((_, event) => {
    if (event.type === 'hello' || event.type === 'presence') {
      showPresence();
    }
  });
  showPresence();
  toolbar.addItem('presence', presence);
  button(
    'dag',
    'DAG',
    'Open the DAG view of this project',
    () =>
      void app.commands.execute('ai-notebook:open-dag', {
        projectId: doc.projectId
      })
  );
  button(
    'datasets',
    'Datasets',
    "Open this project's datasets: upload, profile, quality, lineage",
    () =>
      void app.commands.execute('ai-notebook:open-datasets', {
        projectId: doc.projectId
      })
  );
  button(
    'schedules',
    'Schedules',
    "This project's schedules: crons that run its pipeline",
    () =>
      void app.commands.execute('ai-notebook:open-schedules', {
        projectId: doc.projectId
      })
  );
  button('history', 'History', 'Run history of the active block', () => {
    const cell = doc.panel.content.activeCell;
    const blockId = cell ? doc.blockIdOf(cell.model) : null;
    void app.commands.execute('ai-notebook:open-history', {
      projectId: doc.projectId,
      blockId: blockId ?? undefined
    });
  });
}
