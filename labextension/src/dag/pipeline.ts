/**
 * Follows a pipeline started from the DAG view until it ends, by polling the
 * pipeline run: each block result becomes a node state and the status line
 * says how far it is. (Live events can call `DagView.applyRunStatus` too;
 * the poll stays as the fallback that always reaches the end.)
 */
import { AiNotebookAPI } from '../api';
import { IPipelineRun } from '../dagapi';
import { errorMessage } from '../dom';
import { toDagState } from './model';

const POLL_MS = 700;

export interface IWatchHandlers {
  status(blockId: number, state: string): void;
  message(text: string, isError: boolean): void;
  /** The pipeline ended (or could not be followed): time to reload the DAG. */
  ended(run: IPipelineRun | null): void;
}

export function isActive(run: IPipelineRun): boolean {
  return run.status === 'queued' || run.status === 'running';
}

/** "3 of 5 blocks done": a pipeline's progress, or how it ended. */
export function describePipeline(run: IPipelineRun, what: string): string {
  const results = run.results ?? [];
  const count = (status: string) =>
    results.filter(r => r.status === status).length;
  const total = run.plan?.length ?? results.length;
  if (isActive(run)) {
    const done = results.filter(
      r => r.status !== 'pending' && r.status !== 'running'
    ).length;
    return `Running ${what}: ${done} of ${total} block${total === 1 ? '' : 's'} done`;
  }
  if (total === 0) {
    return `Nothing to run for ${what}: every block is fresh`;
  }
  const parts = [`${count('succeeded')} succeeded`];
  for (const status of ['failed', 'skipped', 'cancelled']) {
    if (count(status)) {
      parts.push(`${count(status)} ${status}`);
    }
  }
  return `Run of ${what} ${run.status}: ${parts.join(', ')}`;
}

export class PipelineWatch {
  constructor(
    private readonly api: AiNotebookAPI,
    private readonly projectId: number,
    private readonly handlers: IWatchHandlers
  ) {}

  /** Follow `run` (a newer call replaces the pipeline followed). */
  follow(run: IPipelineRun, what: string): void {
    const token = ++this._token;
    this._show(run, what);
    if (!isActive(run)) {
      this.handlers.ended(run);
      return;
    }
    const poll = async (): Promise<void> => {
      if (token !== this._token) {
        return;
      }
      let current: IPipelineRun;
      try {
        current = (await this.api.getRun(
          this.projectId,
          run.id
        )) as IPipelineRun;
      } catch (err) {
        if (token === this._token) {
          this.handlers.message(
            `Lost track of the run: ${errorMessage(err)}`,
            true
          );
          this.handlers.ended(null);
        }
        return;
      }
      if (token !== this._token) {
        return;
      }
      this._show(current, what);
      if (isActive(current)) {
        this._timer = window.setTimeout(poll, POLL_MS);
      } else {
        this.handlers.ended(current);
      }
    };
    this._timer = window.setTimeout(poll, POLL_MS);
  }

  dispose(): void {
    this._token++;
    window.clearTimeout(this._timer);
  }

  private _show(run: IPipelineRun, what: string): void {
    for (const result of run.results ?? []) {
      this.handlers.status(result.block_id, toDagState(result.status));
    }
    this.handlers.message(
      describePipeline(run, what),
      run.status === 'failed' || run.status === 'interrupted'
    );
  }

  private _token = 0;
  private _timer = 0;
}
