/**
 * A contents drive presenting each project as a notebook, so a project opens
 * in JupyterLab's own notebook (editing, command mode, rendermime, widgets).
 *
 * Paths are `AINotebook:<projectId>.ipynb`. Reading builds the notebook from
 * the workspace endpoint (blocks, their last runs and states in one request);
 * every cell carries its block id and version in `metadata.ai_notebook`.
 * Saving writes nothing: blocks are saved one by one as they change
 * (`BlockSync`), never as a whole document.
 */
import type * as nbformat from '@jupyterlab/nbformat';
import type { Contents, ServerConnection } from '@jupyterlab/services';
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';

import type { AiNotebookAPI } from './api';
import { ArtifactLoader, resolveOutputs } from './outputs';
import { ProjectAPI } from './projectapi';
import type { IWorkspace, IWorkspaceBlock } from './projectapi';

export const DRIVE_NAME = 'AINotebook';
export const KERNEL_NAME = 'ai-notebook-python';
/** The cell metadata key holding a cell's block id and version. */
export const CELL_META = 'ai_notebook';
const CLEAR_BATCH = 1000; // the API's limit per request

/** A project name as the last part of a path (no separators). */
function pathName(name: string): string {
  return name.replace(/[/\\:]/g, '-').trim() || 'project';
}

/**
 * The document path of a project: `AINotebook:<id>/<name>`, so the tab
 * shows the project's name (JupyterLab labels documents by their path).
 */
export function projectPath(projectId: number, name: string): string {
  return `${DRIVE_NAME}:${projectId}/${pathName(name)}`;
}

function localOf(path: string): string {
  return path.startsWith(`${DRIVE_NAME}:`)
    ? path.slice(DRIVE_NAME.length + 1)
    : path;
}

/** The project id of a path of this drive (with or without the prefix). */
export function projectIdOf(path: string | null | undefined): number | null {
  if (!path) {
    return null;
  }
  const match = /^(\d+)\/[^/]*$/.exec(localOf(path));
  return match ? Number(match[1]) : null;
}

/** What a cell remembers of its block. */
export interface ICellBlockMeta {
  block_id: number;
  version: number;
}

export async function blockToCell(
  loader: ArtifactLoader,
  projectId: number,
  block: IWorkspaceBlock
): Promise<nbformat.ICell> {
  const metadata = {
    [CELL_META]: { block_id: block.id, version: block.version }
  };
  const id = `ainb-${block.id}`;
  if (block.kind === 'markdown') {
    return { cell_type: 'markdown', id, source: block.source, metadata };
  }
  const run = block.last_run;
  const outputs = run
    ? await resolveOutputs(loader, projectId, run.outputs)
    : [];
  return {
    cell_type: 'code',
    id,
    source: block.source,
    metadata,
    outputs,
    execution_count: run?.execution_count ?? null
  };
}

export class ProjectDrive implements Contents.IDrive {
  readonly name = DRIVE_NAME;

  constructor(
    private readonly api: AiNotebookAPI,
    readonly loader: ArtifactLoader
  ) {}

  get serverSettings(): ServerConnection.ISettings {
    return this.api.settings;
  }

  get fileChanged(): ISignal<Contents.IDrive, Contents.IChangedArgs> {
    return this._fileChanged;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  dispose(): void {
    this._disposed = true;
    Signal.clearData(this);
  }

  /** The workspace the last `get` of a project read (states, role, edges). */
  workspace(projectId: number): IWorkspace | undefined {
    return this._workspaces.get(projectId);
  }

  async get(
    localPath: string,
    options?: Contents.IFetchOptions
  ): Promise<Contents.IModel> {
    const projectId = projectIdOf(localPath);
    if (projectId === null) {
      if (localPath === '') {
        return this.directory();
      }
      throw new Error(`Not an AI Notebook project: ${localPath}`);
    }
    const ws = await new ProjectAPI(this.api, projectId).workspace();
    this._workspaces.set(projectId, ws);
    let content: nbformat.INotebookContent | null = null;
    if (options?.content !== false) {
      this._stamps.set(projectId, ws.project.updated_at);
      const cells = await Promise.all(
        ws.blocks.map(b => blockToCell(this.loader, projectId, b))
      );
      content = {
        cells,
        metadata: {
          kernelspec: {
            name: KERNEL_NAME,
            display_name: 'AI Notebook (Python 3)',
            language: 'python'
          },
          language_info: { name: 'python' },
          ai_notebook: { project_id: projectId, name: ws.project.name }
        },
        nbformat: 4,
        nbformat_minor: 5
      };
    }
    return this.model(projectId, ws, content);
  }

  /**
   * Blocks were saved as they changed; what a save still writes is cleared
   * outputs (JupyterLab's Clear Outputs), as a notebook file would keep them.
   */
  async save(
    localPath: string,
    options?: Partial<Contents.IModel>
  ): Promise<Contents.IModel> {
    const projectId = projectIdOf(localPath);
    const ws = projectId === null ? undefined : this._workspaces.get(projectId);
    if (projectId === null || !ws) {
      throw new Error(`Not an open AI Notebook project: ${localPath}`);
    }
    const content = options?.content as nbformat.INotebookContent | undefined;
    if (content && ws.role !== 'viewer') {
      await this.saveClearedOutputs(projectId, content);
    }
    return this.model(projectId, ws, null);
  }

  /** Code cells without outputs or count: the server clears what they had. */
  private async saveClearedOutputs(
    projectId: number,
    content: nbformat.INotebookContent
  ): Promise<void> {
    const ids: number[] = [];
    for (const cell of content.cells ?? []) {
      const meta = cell.metadata?.[CELL_META] as
        { block_id?: number } | undefined;
      const empty = !(cell.outputs as unknown[] | undefined)?.length;
      if (
        cell.cell_type === 'code' &&
        empty &&
        cell.execution_count === null &&
        typeof meta?.block_id === 'number'
      ) {
        ids.push(meta.block_id);
      }
    }
    const api = new ProjectAPI(this.api, projectId);
    for (let i = 0; i < ids.length; i += CLEAR_BATCH) {
      await api.clearOutputs(ids.slice(i, i + CLEAR_BATCH)).catch(err => {
        // A block deleted meanwhile (404): the others are cleared on the next save.
        console.warn('ai-notebook: clearing outputs', err);
      });
    }
  }

  async getDownloadUrl(localPath: string): Promise<string> {
    const projectId = projectIdOf(localPath);
    return `${this.api.settings.baseUrl}ai-notebook/api/projects/${projectId}/notebook`;
  }

  newUntitled(): Promise<Contents.IModel> {
    return this.refuse('Create projects from the AI Notebook sidebar.');
  }

  delete(): Promise<void> {
    return this.refuse('Delete projects from the AI Notebook sidebar.');
  }

  /** Renaming the document (e.g. its tab) renames the project. */
  async rename(oldPath: string, newPath: string): Promise<Contents.IModel> {
    const projectId = projectIdOf(oldPath);
    const name = localOf(newPath).split('/').pop() ?? '';
    if (projectId === null || !name.trim()) {
      return this.refuse('Rename projects from the AI Notebook sidebar.');
    }
    const project = await this.api.updateProject(projectId, {
      name: name.trim()
    });
    const ws = this._workspaces.get(projectId);
    if (ws) {
      ws.project = project;
    }
    const model = this.model(projectId, ws!, null);
    this._fileChanged.emit({
      type: 'rename',
      oldValue: { path: localOf(oldPath) },
      newValue: model
    });
    return model;
  }

  /** Tell open documents that a project was renamed (path follows name). */
  renamed(projectId: number, name: string): void {
    const ws = this._workspaces.get(projectId);
    if (!ws || pathName(ws.project.name) === pathName(name)) {
      return;
    }
    const oldPath = localOf(projectPath(projectId, ws.project.name));
    ws.project = { ...ws.project, name };
    this._fileChanged.emit({
      type: 'rename',
      oldValue: { path: oldPath },
      newValue: this.model(projectId, ws, null)
    });
  }

  copy(): Promise<Contents.IModel> {
    return this.refuse('Export the project as a notebook to copy it.');
  }

  async createCheckpoint(): Promise<Contents.ICheckpointModel> {
    return { id: 'blocks', last_modified: new Date().toISOString() };
  }

  async listCheckpoints(): Promise<Contents.ICheckpointModel[]> {
    return [];
  }

  restoreCheckpoint(): Promise<void> {
    return this.refuse('Use a block’s run history to restore older code.');
  }

  async deleteCheckpoint(): Promise<void> {
    return;
  }

  private async refuse<T>(message: string): Promise<T> {
    throw new Error(message);
  }

  private model(
    projectId: number,
    ws: IWorkspace,
    content: nbformat.INotebookContent | null
  ): Contents.IModel {
    const path = localOf(projectPath(projectId, ws.project.name));
    return {
      name: path.split('/').pop(),
      path,
      type: 'notebook',
      format: content ? 'json' : null,
      content,
      created: ws.project.created_at,
      // Blocks save as they change, so there is no "changed on disk": the time
      // given with the content stays the document's (JupyterLab's save would
      // otherwise ask "File Changed: overwrite?" after every block edit).
      last_modified: this._stamps.get(projectId) ?? ws.project.updated_at,
      writable: ws.role !== 'viewer',
      mimetype: 'application/x-ipynb+json'
    } as Contents.IModel;
  }

  private directory(): Contents.IModel {
    const now = new Date().toISOString();
    return {
      name: '',
      path: '',
      type: 'directory',
      format: 'json',
      content: [],
      created: now,
      last_modified: now,
      writable: false,
      mimetype: ''
    } as Contents.IModel;
  }

  private _disposed = false;
  private _workspaces = new Map<number, IWorkspace>();
  /** Per project: the last_modified given with its content (see `model`). */
  private _stamps = new Map<number, string>();
  private _fileChanged = new Signal<Contents.IDrive, Contents.IChangedArgs>(
    this
  );
}
