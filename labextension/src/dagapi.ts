/**
 * The DAG and pipeline part of the REST API: the server's DAG of a project,
 * explicit edges and pipeline runs (`POST projects/{id}/runs`).
 */
import type { AiNotebookAPI, IRun } from './api';
import { requestAPI } from './api';

/** A block's state in the DAG as the server computes it. */
export type DagNodeState =
  'never-run' | 'fresh' | 'stale' | 'running' | 'failed';

/** A code block in the DAG (`GET projects/{id}/dag`). */
export interface IDagNode {
  block_id: number;
  position: number;
  state: DagNodeState;
  fingerprint: string;
  defines: string[];
  references: string[];
  mutates: string[];
  /** Names read that no earlier block defines. */
  unresolved: string[];
  star_imports: string[];
  /** Why the code could not be analyzed, if so. */
  error: string | null;
  /** Why a stale block is stale (the server says it; null unless stale). */
  stale_reason?: string | null;
}

export interface IDagEdge {
  source: number;
  target: number;
  kind: 'inferred' | 'explicit';
  /** Names that cause an inferred edge ('*': a star import). */
  names: string[];
  /** The explicit edge's id (to delete it). */
  id?: number | null;
}

/** An explicit edge left out because it now closes a cycle. */
export interface IIgnoredEdge {
  id: number;
  source: number;
  target: number;
  cycle: number[];
}

export interface IDag {
  nodes: IDagNode[];
  edges: IDagEdge[];
  ignored_edges: IIgnoredEdge[];
  kernel_generation: number | null;
}

export interface IExplicitEdge {
  id: number;
  source: number;
  target: number;
  created_at: string;
}

export type PipelineTarget =
  'all' | 'stale' | 'upstream' | 'downstream' | 'blocks';

/** `POST projects/{id}/runs`: what a pipeline runs. */
export interface IPipelineRequest {
  target: PipelineTarget;
  /** The block of `upstream` / `downstream`. */
  block_id?: number;
  /** The blocks of `blocks`. */
  block_ids?: number[];
  parallel?: number;
  stop_on_error?: boolean;
  retries?: number;
}

/** A pipeline run: a run with its plan and per-block results. */
export interface IPipelineRun extends IRun {
  kind: 'block' | 'pipeline';
  plan: number[] | null;
  results:
    | {
        block_id: number;
        status:
          | 'pending'
          | 'running'
          | 'succeeded'
          | 'failed'
          | 'skipped'
          | 'cancelled';
        run_id: number | null;
        attempts: number;
        reason: string;
      }[]
    | null;
}

export function getDag(api: AiNotebookAPI, projectId: number): Promise<IDag> {
  return requestAPI<IDag>(api.settings, ['projects', projectId, 'dag']);
}

/** Add `source -> target` (409 with `details.cycle` if it closes a cycle). */
export function addEdge(
  api: AiNotebookAPI,
  projectId: number,
  source: number,
  target: number
): Promise<IExplicitEdge> {
  return requestAPI<IExplicitEdge>(
    api.settings,
    ['projects', projectId, 'edges'],
    { method: 'POST', body: { source, target } }
  );
}

export function deleteEdge(
  api: AiNotebookAPI,
  projectId: number,
  edgeId: number
): Promise<void> {
  return requestAPI<void>(
    api.settings,
    ['projects', projectId, 'edges', edgeId],
    { method: 'DELETE' }
  );
}

/** Start a pipeline over the DAG (202: the pipeline run). */
export function runPipeline(
  api: AiNotebookAPI,
  projectId: number,
  request: IPipelineRequest
): Promise<IPipelineRun> {
  return requestAPI<IPipelineRun>(
    api.settings,
    ['projects', projectId, 'runs'],
    { method: 'POST', body: request }
  );
}
