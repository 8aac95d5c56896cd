/**
 * Typed client for the ai_notebook_ext REST API (`<baseUrl>/ai-notebook/api/...`).
 *
 * Every request goes through `ServerConnection.makeRequest`, so the Jupyter
 * token / XSRF headers and the server's base URL are handled by JupyterLab.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** URL prefix of the API, relative to the Jupyter server base URL. */
export const API_PREFIX = 'ai-notebook/api';

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
  created_at: string;
  updated_at: string;
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
export async function requestAPI<T>(
  settings: ServerConnection.ISettings,
  path: Array<string | number>,
  options: IRequestOptions = {}
): Promise<T> {
  let url = URLExt.join(
    settings.baseUrl,
    API_PREFIX,
    ...path.map(p => encodeURIComponent(String(p)))
  );
  if (options.query) {
    const query: Record<string, string> = {};
    for (const [key, value] of Object.entries(options.query)) {
      if (value !== undefined) {
        query[key] = String(value);
      }
    }
    url += URLExt.objectToQueryString(query);
  }

  const init: RequestInit = { method: options.method ?? 'GET' };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers = { 'Content-Type': 'application/json' };
  }

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new ApiError(`Could not reach the server: ${reason}`, 0, 'network_error');
  }

  const text = await response.text();
  let data: unknown = undefined;
  let parsed = false;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
      parsed = true;
    } catch {
      // handled below
    }
  }

  if (!response.ok) {
    const error = parsed ? (data as IErrorBody | null)?.error : undefined;
    const message =
      error?.message ||
      `Request failed: ${response.status} ${response.statusText}`.trim();
    throw new ApiError(
      message,
      response.status,
      error?.code ?? 'http_error',
      error?.details ?? {}
    );
  }
  if (text.length > 0 && !parsed) {
    throw new ApiError(
      `Invalid JSON in response from ${url}`,
      response.status,
      'invalid_response'
    );
  }
  return data as T;
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

  listBlocks(
    projectId: number,
    limit = 500,
    offset = 0
  ): Promise<IPage<IBlock>> {
    return requestAPI<IPage<IBlock>>(
      this.settings,
      ['projects', projectId, 'blocks'],
      { query: { limit, offset } }
    );
  }
}
