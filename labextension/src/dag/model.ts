/**
 * The DAG view's data: the server's DAG (`GET projects/{id}/dag`) joined with
 * the blocks' code (for the node titles) and their newest runs (for run
 * times), in three requests whatever the project's size.
 */
import { AiNotebookAPI, IBlock, IPage, IRun, requestAPI } from '../api';
import { getDag, IDag, IIgnoredEdge } from '../dagapi';

/** Node states of the UI contract (`data-state` of every node). */
export type DagState =
  'fresh' | 'stale' | 'never-run' | 'queued' | 'running' | 'failed' | 'skipped';

export const DAG_STATES: readonly DagState[] = [
  'fresh',
  'stale',
  'never-run',
  'queued',
  'running',
  'failed',
  'skipped'
];

/**
 * Map a state or status name from the server (DAG node state, run status or
 * a pipeline's per-block result status) to a node state.
 */
export function toDagState(status: string): DagState {
  switch (status) {
    case 'fresh':
    case 'succeeded':
      return 'fresh';
    case 'never-run':
    case 'never_run':
      return 'never-run';
    case 'queued':
    case 'pending':
      return 'queued';
    case 'running':
      return 'running';
    case 'failed':
    case 'interrupted':
      return 'failed';
    case 'skipped':
    case 'cancelled':
      return 'skipped';
    default:
      return 'stale';
  }
}

/** A block's newest run, as shown on its node. */
export interface IRunSummary {
  status: string;
  finishedAt: Date | null;
  /** Wall time of the run in seconds, if it ended. */
  seconds: number | null;
}

/** A node of the view: one code block. */
export interface IDagBlock {
  id: number;
  position: number;
  state: DagState;
  /** First non-blank line of the code, for the node title. */
  title: string;
  source: string;
  /** Why the code could not be analyzed (a syntax error), if so. */
  error: string | null;
  defines: string[];
  unresolved: string[];
  lastRun: IRunSummary | null;
  /** Why a stale block is stale (the server's words), if so. */
  staleReason: string | null;
}

/** An edge of the view. */
export interface IDagLink {
  /** Unique in the model: `<kind>:<source>-><target>`. */
  key: string;
  source: number;
  target: number;
  kind: 'inferred' | 'explicit';
  /** Names that cause an inferred edge. */
  names: string[];
  /** Id of an explicit edge (to delete it). */
  edgeId: number | null;
}

export interface IDagModel {
  projectId: number;
  blocks: IDagBlock[];
  links: IDagLink[];
  /** Explicit edges the server leaves out because they now close a cycle. */
  ignored: IIgnoredEdge[];
}

/** Blocks and runs fetched per request (the API's page maximum). */
const PAGE = 500;

/** Load the DAG of a project with block titles and last runs. */
export async function loadDag(
  api: AiNotebookAPI,
  projectId: number
): Promise<IDagModel> {
  const [dag, blocks, runs] = await Promise.all([
    getDag(api, projectId),
    api.listBlocks(projectId, PAGE),
    // Newest block runs first; run times are a nicety, never an error.
    requestAPI<IPage<IRun>>(api.settings, ['projects', projectId, 'runs'], {
      query: { kind: 'block', limit: PAGE }
    }).catch(() => null)
  ]);
  return buildModel(projectId, dag, blocks.items, runs?.items ?? []);
}

/** Join the DAG with blocks and runs (pure). */
export function buildModel(
  projectId: number,
  dag: IDag,
  blocks: IBlock[],
  runs: IRun[]
): IDagModel {
  const sources = new Map(blocks.map(b => [b.id, b.source]));
  const lastRuns = new Map<number, IRunSummary>();
  for (const run of runs) {
    if (run.block_id !== null && !lastRuns.has(run.block_id)) {
      lastRuns.set(run.block_id, summarizeRun(run));
    }
  }
  // Blank blocks hold nothing and never run: no node for them.
  const nodes = [...dag.nodes]
    .filter(node => sources.get(node.block_id)?.trim() !== '')
    .sort((a, b) => a.position - b.position);
  return {
    projectId,
    blocks: nodes.map(node => {
      const source = sources.get(node.block_id) ?? '';
      return {
        id: node.block_id,
        position: node.position,
        state: toDagState(node.state),
        title: firstLine(source),
        source,
        error: node.error,
        defines: node.defines,
        unresolved: node.unresolved,
        lastRun: lastRuns.get(node.block_id) ?? null,
        staleReason: node.stale_reason ?? null
      };
    }),
    links: dag.edges.map(edge => ({
      key: `${edge.kind}:${edge.source}->${edge.target}`,
      source: edge.source,
      target: edge.target,
      kind: edge.kind,
      names: edge.names,
      edgeId: edge.id ?? null
    })),
    ignored: dag.ignored_edges
  };
}

function summarizeRun(run: IRun): IRunSummary {
  const finished = run.finished_at ? new Date(run.finished_at) : null;
  const started = run.started_at ? new Date(run.started_at) : null;
  const seconds =
    finished && started
      ? Math.max(0, (finished.getTime() - started.getTime()) / 1000)
      : null;
  return { status: run.status, finishedAt: finished, seconds };
}

/** The first non-blank line of some code, trimmed ("(empty)" if none). */
export function firstLine(source: string): string {
  for (const line of source.split('\n')) {
    if (line.trim()) {
      return line.trim();
    }
  }
  return '(empty)';
}

/** "#3 c = b * 2": a block as named in messages. */
export function describeBlock(model: IDagModel | null, id: number): string {
  const block = model?.blocks.find(b => b.id === id);
  return block ? `#${block.id} ${block.title}` : `#${id}`;
}

/** "0.12 s", "3.4 s", "2 min 5 s": a run's duration. */
export function formatDuration(seconds: number): string {
  if (seconds < 1) {
    return `${seconds.toFixed(2)} s`;
  }
  if (seconds < 60) {
    return `${seconds.toFixed(1)} s`;
  }
  const minutes = Math.floor(seconds / 60);
  return `${minutes} min ${Math.round(seconds - minutes * 60)} s`;
}

/** "just now", "5 min ago", "3 h ago", or a date: when a run ended. */
export function formatAgo(when: Date, now: Date = new Date()): string {
  const seconds = (now.getTime() - when.getTime()) / 1000;
  if (seconds < 45) {
    return 'just now';
  }
  if (seconds < 3600) {
    return `${Math.round(seconds / 60)} min ago`;
  }
  if (seconds < 86400) {
    return `${Math.round(seconds / 3600)} h ago`;
  }
  return when.toLocaleDateString();
}
