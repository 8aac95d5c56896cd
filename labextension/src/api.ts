/**
 * Typed client for the ai_notebook_ext REST API (`<baseUrl>/ai-notebook/api/...`).
 *
 * Every request goes through `ServerConnection.makeRequest`, so the Jupyter
 * token / XSRF headers and the server's base URL are handled by JupyterLab.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { UUID } from '@lumino/coreutils';

/** URL prefix of the API, relative to the Jupyter server base URL. */
export const API_PREFIX = 'ai-notebook/api';

/**
 * This browser tab's id, sent as `X-AINB-Client` on every request: the
 * project event stream echoes it on the events a request caused, so the
 * workspace can tell its own changes from other users'.
 */
export const CLIENT_ID = UUID.uuid4();

export type ProjectRole = 'owner' | 'editor' | 'viewer';
export type BlockKind = 'code' | 'markdown';

export interface IUser {
  username: string;
  display_name: string;
  role: string;
}

export interface IProject {
  id: number;
  name: string;
  description: string;
  /** Username of the owner. */
  owner: string;
  /** The caller's role on this project. */
  role: ProjectRole;
  created_at: string;
  updated_at: string;
}

export interface IBlock {
  id: number;
  project_id: number;
  position: number;
  kind: BlockKind;
  source: string;
  version: number;
  /** The block's most recent run, if it was ever run. */
  last_run_id?: number | null;
  /** Per-block execution time limit (null: the project's default). */
  timeout_seconds?: number | null;
  created_at: string;
  updated_at: string;
}

export type RunStatus =
  'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled' | 'interrupted';

/** Where an output's mime data moved to when it was binary or large. */
export interface IArtifactRef {
  /** sha256 of the bytes; `GET projects/{pid}/artifacts/{id}`. */
  id: string;
  size: number;
  /** Streams only: `text` holds the first part of the stored text. */
  truncated?: boolean;
}

export interface IRunError {
  ename: string;
  evalue: string;
  traceback: string[];
  reason?: string | null;
}

/**
 * One execution of a block. `outputs` are nbformat v4 outputs, except that an
 * output may carry `artifacts: {mime: IArtifactRef}` for data moved out.
 */
export interface IRun {
  id: number;
  project_id: number;
  /** null once the block was deleted. */
  block_id: number | null;
  status: RunStatus;
  source: string;
  block_version: number;
  timeout_seconds: number | null;
  execution_count: number | null;
  outputs: IStoredOutput[];
  error: IRunError | null;
  /** Human summary, e.g. "timed out after 5 s". */
  message: string;
  kernel_generation: number | null;
  /** Who started it (in run lists). */
  username?: string | null;
  queued_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** An nbformat output as stored by the server (JSON object). */
export interface IStoredOutput {
  output_type: string;
  artifacts?: Record<string, IArtifactRef>;
  [key: string]: unknown;
}

/**
 * A kernel's execution state: not_started, starting, idle, busy, restarting
 * (after it died, until it is back), or what the kernel manager reports.
 */
export type KernelState = string;

export interface IKernelStatus {
  state: KernelState;
  kernel_id: string | null;
  kernel_name: string;
  /** Kernel starts so far, restarts included. */
  generation: number;
  started_at: string | null;
  last_activity: string | null;
  /** When the kernel's variables were last lost, and why. */
  reset_at: string | null;
  reset_reason: string;
  queued_run_ids: number[];
}

export interface IPage<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

/** The API's error body: `{"error": {"code", "message", "details"}}`. */
interface IErrorBody {
  error?: {
    code?: string;
    message?: string;
    details?: Record<string, unknown>;
  };
}

/**
 * An error from the API, carrying the server's `error.message`, the HTTP
 * status (0 when the server could not be reached) and the error code.
 */
export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly details: Record<string, unknown>;

  constructor(
    message: string,
    status: number,
    code = 'unknown',
    details: Record<string, unknown> = {}
  ) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface IRequestOptions {
  method?: string;
  /** Serialised as JSON. */
  body?: unknown;
  query?: Query;
}

/**
 * Make a request to `<baseUrl>/ai-notebook/api/<path...>` and return the
 * parsed JSON body. Throws `ApiError` on network failure, on any non-2xx
 * status (with the API's `error.message` when present) and on a body that is
 * not JSON.
 */
function apiUrl(
  settings: ServerConnection.ISettings,
  path: Array<string | number>,
  query?: Query
): string {
  let url = URLExt.join(
    settings.baseUrl,
    API_PREFIX,
    ...path.map(p => encodeURIComponent(String(p)))
  );
  if (query) {
    const params: Record<string, string> = {};
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined) {
        params[key] = String(value);
      }
    }
    url += URLExt.objectToQueryString(params);
  }
  return url;
}

async function send(
  settings: ServerConnection.ISettings,
  url: string,
  init: RequestInit
): Promise<Response> {
  try {
    return await ServerConnection.makeRequest(url, init, settings);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ApiError(
      `Could not reach the server: ${reason}`,
      0,
      'network_error'
    );
  }
}

function errorFromBody(response: Response, text: string): ApiError {
  let error: IErrorBody['error'] = undefined;
  try {
    error = (JSON.parse(text) as IErrorBody | null)?.error;
  } catch {
    // not JSON: fall back to the status line
  }
  const message =
    error?.message ||
    `Request failed: ${response.status} ${response.statusText}`.trim();
  return new ApiError(
    message,
    response.status,
    error?.code ?? 'http_error',
    error?.details ?? {}
  );
}

/**
 * Make a request to `<baseUrl>/ai-notebook/api/<path...>` and return the
 * parsed JSON body. Throws `ApiError` on network failure, on any non-2xx
 * status (with the API's `error.message` when present) and on a body that is
 * not JSON.
 */
export async function requestAPI<T>(
  settings: ServerConnection.ISettings,
  path: Array<string | number>,
  options: IRequestOptions = {}
): Promise<T> {
  const url = apiUrl(settings, path, options.query);
  const headers: Record<string, string> = { 'X-AINB-Client': CLIENT_ID };
  const init: RequestInit = { method: options.method ?? 'GET', headers };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    headers['Content-Type'] = 'application/json';
  }

  const response = await send(settings, url, init);
  const text = await response.text();
  if (!response.ok) {
    throw errorFromBody(response, text);
  }
  if (text.length === 0) {
    return undefined as T;
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new ApiError(
      `Invalid JSON in response from ${url}`,
      response.status,
      'invalid_response'
    );
  }
}

/**
 * GET a non-JSON resource under the API (artifacts) and return the raw
 * response; non-2xx statuses throw `ApiError` like `requestAPI`.
 */
export async function requestRaw(
  settings: ServerConnection.ISettings,
  path: Array<string | number>
): Promise<Response> {
  const response = await send(settings, apiUrl(settings, path), {
    method: 'GET'
  });
  if (!response.ok) {
    throw errorFromBody(response, await response.text());
  }
  return response;
}

/** Thin typed wrapper over the endpoints the panel uses. */
export class AiNotebookAPI {
  constructor(readonly settings: ServerConnection.ISettings) {}

  me(): Promise<IUser> {
    return requestAPI<IUser>(this.settings, ['me']);
  }

  listProjects(limit = 50, offset = 0): Promise<IPage<IProject>> {
    return requestAPI<IPage<IProject>>(this.settings, ['projects'], {
      query: { limit, offset }
    });
  }

  createProject(name: string, description?: string): Promise<IProject> {
    const body: { name: string; description?: string } = { name };
    if (description !== undefined) {
      body.description = description;
    }
    return requestAPI<IProject>(this.settings, ['projects'], {
      method: 'POST',
      body
    });
  }

  /** The bytes of an output moved out of a run (Content-Type = its mime). */
  fetchArtifact(projectId: number, sha256: string): Promise<Response> {
    return requestRaw(this.settings, [
      'projects',
      projectId,
      'artifacts',
      sha256
    ]);
  }

  /** The project as a bundle (a zip response to save as a file). */
  exportBundle(projectId: number): Promise<Response> {
    return requestRaw(this.settings, ['projects', projectId, 'bundle']);
  }

  /** Import a bundle file as a new project owned by the caller. */
  async importBundle(file: Blob): Promise<IProject> {
    const url = apiUrl(this.settings, ['projects', 'bundle']);
    const response = await send(this.settings, url, {
      method: 'POST',
      body: file,
      headers: {
        'Content-Type': 'application/zip',
        'X-AINB-Client': CLIENT_ID
      }
    });
    const text = await response.text();
    if (!response.ok) {
      throw errorFromBody(response, text);
    }
    return JSON.parse(text) as IProject;
  }

  getProject(projectId: number): Promise<IProject> {
    return requestAPI<IProject>(this.settings, ['projects', projectId]);
  }

  updateProject(
    projectId: number,
    change: { name?: string; description?: string }
  ): Promise<IProject> {
    return requestAPI<IProject>(this.settings, ['projects', projectId], {
      method: 'PATCH',
      body: change
    });
  }

  deleteProject(projectId: number): Promise<void> {
    return requestAPI<void>(this.settings, ['projects', projectId], {
      method: 'DELETE'
    });
  }

  // ------------------------------------------------------------ blocks and runs

  listBlocks(
    projectId: number,
    limit = 500,
    offset = 0
  ): Promise<IPage<IBlock>> {
    return requestAPI<IPage<IBlock>>(
      this.settings,
      ['projects', projectId, 'blocks'],
      {
        query: { limit, offset }
      }
    );
  }

  getRun(projectId: number, runId: number): Promise<IRun> {
    return requestAPI<IRun>(this.settings, [
      'projects',
      projectId,
      'runs',
      runId
    ]);
  }
}
