/**
 * Pipeline controls in a project notebook's toolbar: run all, stale,
 * upstream / downstream of the active block, the selected blocks; parallel
 * workers and retries; stop; live progress and a summary at the end; buttons
 * for the DAG view and the active block's run history.
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

const DONE = new Set(['succeeded', 'failed', 'cancelled', 'interrupted']);

function select(
  className: string,
  title: string,
  values: number[],
  label: (v: number) => string
): HTMLSelectElement {
  const node = document.createElement('select');
  node.className = `${className} jp-mod-styled`;
  node.title = title;
  for (const v of values) {
    const option = document.createElement('option');
    option.value = String(v);
    option.textContent = label(v);
    node.appendChild(option);
  }
  return node;
}

/** Parallel and retries options plus the progress line. */
class PipelineStatus extends Widget {
  constructor() {
    super();
    this.addClass('ainb-pipeline-status');
    this.parallel = select('ainb-parallel', 'Parallel workers', [1, 2, 4], v =>
      v === 1 ? 'sequential' : `${v} parallel`
    );
    this.retries = select(
      'ainb-retries',
      'Retries per failing block',
      [0, 1, 2, 3],
      v => (v === 0 ? 'no retries' : `${v} ${v === 1 ? 'retry' : 'retries'}`)
    );
    this.progress = document.createElement('span');
    this.progress.className = 'ainb-pipeline-progress';
    this.node.append(this.parallel, this.retries, this.progress);
  }

  readonly parallel: HTMLSelectElement;
  readonly retries: HTMLSelectElement;
  readonly progress: HTMLSpanElement;
}

export function addProjectToolbar(
  app: JupyterFrontEnd,
  doc: ProjectDocument
): void {
  const toolbar = doc.panel.toolbar;
  const status = new PipelineStatus();
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

  const start = async (target: PipelineTarget): Promise<void> => {
    const request: IPipelineRequest = {
      target,
      parallel: Number(status.parallel.value),
      retries: Number(status.retries.value)
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
      pipeline = await doc.project.pipeline(request);
      for (const id of pipeline.plan ?? []) {
        counts.set(id, 'pending');
      }
      render();
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
    const summary =
      `Pipeline ${run.status}: ${tally('succeeded')} succeeded, ` +
      `${tally('failed')} failed, ${tally('skipped')} skipped`;
    status.progress.textContent = summary;
    status.progress.dataset.status = run.status;
    const notify =
      run.status === 'succeeded' ? Notification.success : Notification.warning;
    notify(summary, { autoClose: 6000 });
  };

  doc.events.received.connect((_, event: IProjectEvent) => {
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
    button(
      'run-stale',
      '▶ Stale',
      'Run stale blocks and what depends on them',
      () => void start('stale')
    );
    button(
      'run-all',
      '▶ All',
      'Run every block in DAG order',
      () => void start('all')
    );
    button(
      'run-upstream',
      '↥ Upstream',
      'Run the active block and what it needs',
      () => void start('upstream')
    );
    button(
      'run-downstream',
      '↧ Downstream',
      'Run the active block and its dependents',
      () => void start('downstream')
    );
    button(
      'run-selected',
      '▶ Selected',
      'Run the selected blocks',
      () => void start('blocks')
    );
    button('stop', '■ Stop', 'Stop the pipeline', () => {
      if (pipeline && !DONE.has(pipeline.status)) {
        void doc.project
          .cancel(pipeline.id)
          .catch(err =>
            Notification.error(errorMessage(err), { autoClose: 6000 })
          );
      } else {
        void doc.project.interruptKernel();
      }
    });
    toolbar.addItem('pipeline-options', status);
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
