/**
 * The REST calls of one open project: its workspace (blocks with their last
 * runs and states in one request), block edits with versions, runs,
 * pipelines, the kernel, the DAG and explicit edges.
 */
import type {
  AiNotebookAPI,
  BlockKind,
  IBlock,
  IKernelStatus,
  IPage,
  IProject,
  IRun,
  ProjectRole
} from './api';
import { requestAPI } from './api';
import { addEdge, deleteEdge, getDag, runPipeline } from './dagapi';
import type {
  IDag,
  IDagEdge,
  IExplicitEdge,
  IPipelineRequest,
  IPipelineRun
} from './dagapi';

export type {
  IDag,
  IDagEdge,
  IDagNode,
  IPipelineRequest,
  IPipelineRun,
  PipelineTarget
} from './dagapi';

/** The states a block shows (the server's DAG states plus live ones). */
export type BlockState =
  'fresh' | 'stale' | 'never-run' | 'queued' | 'running' | 'failed' | 'skipped';

export interface IWorkspaceBlock extends IBlock {
  /** null for markdown blocks. */
  state: BlockState | null;
  stale_reason?: string | null;
  last_run: IRun | null;
}

export interface IWorkspace {
  project: IProject;
  role: ProjectRole;
  blocks: IWorkspaceBlock[];
  edges: IDagEdge[];
  kernel: IKernelStatus;
}

/** The API of one project. */
export class ProjectAPI {
  constructor(
    readonly api: AiNotebookAPI,
    readonly projectId: number
  ) {}

  private call<T>(
    path: Array<string | number>,
    options: Parameters<typeof requestAPI>[2] = {}
  ): Promise<T> {
    return requestAPI<T>(
      this.api.settings,
      ['projects', this.projectId, ...path],
      options
    );
  }

  workspace(): Promise<IWorkspace> {
    return this.call<IWorkspace>(['workspace']);
  }

  dag(): Promise<IDag> {
    return getDag(this.api, this.projectId);
  }

  createBlock(
    kind: BlockKind,
    source: string,
    position?: number
  ): Promise<IBlock> {
    return this.call<IBlock>(['blocks'], {
      method: 'POST',
      body: { kind, source, position }
    });
  }

  getBlock(blockId: number): Promise<IBlock> {
    return this.call<IBlock>(['blocks', blockId]);
  }

  updateBlock(
    blockId: number,
    version: number,
    change: { source?: string; kind?: BlockKind }
  ): Promise<IBlock> {
    return this.call<IBlock>(['blocks', blockId], {
      method: 'PATCH',
      body: { version, ...change }
    });
  }

  deleteBlock(blockId: number, version: number): Promise<void> {
    return this.call<void>(['blocks', blockId], {
      method: 'DELETE',
      query: { version }
    });
  }

  moveBlock(blockId: number, position: number): Promise<unknown> {
    return this.call<unknown>(['blocks', blockId, 'move'], {
      method: 'POST',
      body: { position }
    });
  }

  execute(blockId: number): Promise<IRun> {
    return this.call<IRun>(['blocks', blockId, 'execute'], { method: 'POST' });
  }

  run(runId: number): Promise<IRun> {
    return this.call<IRun>(['runs', runId]);
  }

  runs(blockId: number, limit = 50): Promise<IPage<IRun>> {
    return this.call<IPage<IRun>>(['runs'], {
      query: { block_id: blockId, limit }
    });
  }

  cancel(runId: number): Promise<IRun> {
    return this.call<IRun>(['runs', runId, 'cancel'], { method: 'POST' });
  }

  pipeline(request: IPipelineRequest): Promise<IPipelineRun> {
    return runPipeline(this.api, this.projectId, request);
  }

  /** Start the project kernel if needed (editor) and return its state. */
  startKernel(): Promise<IKernelStatus> {
    return this.call<IKernelStatus>(['kernel'], { method: 'POST' });
  }

  kernel(): Promise<IKernelStatus> {
    return this.call<IKernelStatus>(['kernel']);
  }

  restartKernel(): Promise<IKernelStatus> {
    return this.call<IKernelStatus>(['kernel', 'restart'], { method: 'POST' });
  }

  /** Blocks show no outputs until they run again (Clear Outputs, then a save). */
  clearOutputs(blockIds: number[]): Promise<{ block_ids: number[] }> {
    return this.call<{ block_ids: number[] }>(['blocks', 'clear-outputs'], {
      method: 'POST',
      body: { block_ids: blockIds }
    });
  }

  /** Shut the project kernel down (its state is lost; the next run starts one). */
  shutdownKernel(): Promise<void> {
    return this.call<void>(['kernel'], { method: 'DELETE' });
  }

  interruptKernel(): Promise<IKernelStatus> {
    return this.call<IKernelStatus>(['kernel', 'interrupt'], {
      method: 'POST'
    });
  }

  addEdge(source: number, target: number): Promise<IExplicitEdge> {
    return addEdge(this.api, this.projectId, source, target);
  }

  deleteEdge(edgeId: number): Promise<void> {
    return deleteEdge(this.api, this.projectId, edgeId);
  }
}
