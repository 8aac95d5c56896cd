/**
 * The server's Jupyter events about runs and kernels, as typed values.
 *
 * They arrive through JupyterLab's event manager
 * (`app.serviceManager.events.stream`), which carries every event the server
 * emits (`{schema_id, ...fields}`); `parseEvent` keeps ours and checks the
 * fields this extension relies on, so a malformed or foreign event is
 * dropped instead of breaking the panel.
 */
import type { Event } from '@jupyterlab/services';

import type { IStoredOutput, RunStatus } from './api';

const SCHEMA_BASE = 'https://events.jupyter.org/ai_notebook_ext';

export const RUN_STATUS_SCHEMA = `${SCHEMA_BASE}/run-status/v1`;
export const RUN_OUTPUT_SCHEMA = `${SCHEMA_BASE}/run-output/v1`;
export const KERNEL_STATUS_SCHEMA = `${SCHEMA_BASE}/kernel-status/v1`;

const RUN_STATUSES: ReadonlySet<string> = new Set<RunStatus>([
  'queued',
  'running',
  'succeeded',
  'failed',
  'cancelled',
  'interrupted'
]);

const FINAL_STATUSES: ReadonlySet<string> = new Set<RunStatus>([
  'succeeded',
  'failed',
  'cancelled',
  'interrupted'
]);

/** What happened to a project kernel (not its execution state). */
export type KernelChange = 'started' | 'dead' | 'restarted' | 'shutdown';

const KERNEL_CHANGES: ReadonlySet<string> = new Set<KernelChange>([
  'started',
  'dead',
  'restarted',
  'shutdown'
]);

/** A run that can no longer change (its stored outputs are final). */
export function isFinalStatus(status: RunStatus): boolean {
  return FINAL_STATUSES.has(status);
}

/** Order of a run's life: queued < running < any final status. */
export function statusRank(status: RunStatus): number {
  if (status === 'queued') {
    return 0;
  }
  return status === 'running' ? 1 : 2;
}

export interface IRunStatusEvent {
  kind: 'run-status';
  project_id: number;
  run_id: number;
  /** null once the block was deleted. */
  block_id: number | null;
  status: RunStatus;
  execution_count: number | null;
  message: string;
}

/**
 * The outputs of a running block so far (a snapshot: a higher `seq` replaces
 * a lower one), the last ones only, binary data omitted and long text cut to
 * its tail. The stored run has them all once it is final.
 */
export interface IRunOutputEvent {
  kind: 'run-output';
  project_id: number;
  run_id: number;
  block_id: number | null;
  seq: number;
  outputs: IStoredOutput[];
}

/** A project's kernel started, died, restarted or shut down. */
export interface IKernelStatusEvent {
  kind: 'kernel-status';
  project_id: number;
  state: KernelChange;
  /** Kernel starts of the project so far, restarts included. */
  generation: number | null;
  /** Why, in words; empty when there is nothing to say. */
  reason: string;
}

export type AiNotebookEvent =
  | IRunStatusEvent
  | IRunOutputEvent
  | IKernelStatusEvent;

function isInt(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value);
}

function optInt(value: unknown): number | null {
  return isInt(value) ? value : null;
}

function optString(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

function blockId(value: unknown): number | null | undefined {
  if (value === null || value === undefined) {
    return null;
  }
  return isInt(value) ? value : undefined;
}

function isOutput(value: unknown): value is IStoredOutput {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as { output_type?: unknown }).output_type === 'string'
  );
}

/** Our event as a typed value, or null for other events and bad payloads. */
export function parseEvent(emission: Event.Emission): AiNotebookEvent | null {
  const e = emission as Record<string, unknown>;
  switch (e.schema_id) {
    case RUN_STATUS_SCHEMA:
      if (
        !isInt(e.project_id) ||
        !isInt(e.run_id) ||
        blockId(e.block_id) === undefined ||
        typeof e.status !== 'string' ||
        !RUN_STATUSES.has(e.status)
      ) {
        return null;
      }
      return {
        kind: 'run-status',
        project_id: e.project_id,
        run_id: e.run_id,
        block_id: blockId(e.block_id) ?? null,
        status: e.status as RunStatus,
        execution_count: optInt(e.execution_count),
        message: optString(e.message)
      };
    case RUN_OUTPUT_SCHEMA:
      if (
        !isInt(e.project_id) ||
        !isInt(e.run_id) ||
        blockId(e.block_id) === undefined ||
        !isInt(e.seq) ||
        !Array.isArray(e.outputs)
      ) {
        return null;
      }
      return {
        kind: 'run-output',
        project_id: e.project_id,
        run_id: e.run_id,
        block_id: blockId(e.block_id) ?? null,
        seq: e.seq,
        outputs: e.outputs.filter(isOutput)
      };
    case KERNEL_STATUS_SCHEMA:
      if (
        !isInt(e.project_id) ||
        typeof e.state !== 'string' ||
        !KERNEL_CHANGES.has(e.state)
      ) {
        return null;
      }
      return {
        kind: 'kernel-status',
        project_id: e.project_id,
        state: e.state as KernelChange,
        generation: optInt(e.generation),
        reason: optString(e.reason)
      };
    default:
      return null;
  }
}
