/**
 * The per-project event stream: a WebSocket to
 * `{base}ai-notebook/api/projects/{id}/events`, members only.
 *
 * One connection per open project, shared by every view of it (workspace,
 * DAG, history) through `ProjectEvents.acquire`. It reconnects with backoff
 * and says so (`connectionChanged`), so views can reload what they missed.
 * A socket refused before it opened (a browser hides the HTTP status) is
 * checked through the REST API: a project that answers 404 or 403 is gone for
 * this user, the state becomes `refused` and no retry follows.
 */
import { URLExt } from '@jupyterlab/coreutils';
import type { ServerConnection } from '@jupyterlab/services';
import type { IDisposable } from '@lumino/disposable';
import { Signal } from '@lumino/signaling';
import type { ISignal } from '@lumino/signaling';

import { API_PREFIX, ApiError, CLIENT_ID, requestAPI } from './api';

/** One event: `type` names it, the other fields depend on it. */
export interface IProjectEvent {
  type: string;
  /** The username whose action caused it. */
  actor?: string;
  /** The `X-AINB-Client` of the request that caused it. */
  client?: string;
  [key: string]: unknown;
}

export interface IPresence {
  username: string;
  display_name: string;
}

export type ConnectionState = 'connecting' | 'open' | 'closed' | 'refused';

/** Close codes the server uses to say "you are not (any more) a member". */
const REFUSED_CODES = new Set([4403, 4404, 1008]);
const MAX_BACKOFF_MS = 10_000;

/** True for an event caused by a request of this browser tab. */
export function isOwnEvent(event: IProjectEvent): boolean {
  return event.client === CLIENT_ID;
}

export class ProjectEvents implements IDisposable {
  private static _open = new Map<number, ProjectEvents>();

  /** The shared stream of a project; `release` it when done. */
  static acquire(
    settings: ServerConnection.ISettings,
    projectId: number
  ): ProjectEvents {
    let events = ProjectEvents._open.get(projectId);
    if (!events || events.isDisposed) {
      events = new ProjectEvents(settings, projectId);
      ProjectEvents._open.set(projectId, events);
    }
    events._users++;
    return events;
  }

  private constructor(
    private readonly settings: ServerConnection.ISettings,
    readonly projectId: number
  ) {
    this.connect();
  }

  get received(): ISignal<this, IProjectEvent> {
    return this._received;
  }

  get connectionChanged(): ISignal<this, ConnectionState> {
    return this._connectionChanged;
  }

  get state(): ConnectionState {
    return this._state;
  }

  /** The signed-in user as the server knows them (from `hello`). */
  get username(): string {
    return this._username;
  }

  get presence(): IPresence[] {
    return this._presence;
  }

  get isDisposed(): boolean {
    return this._disposed;
  }

  /** Drop one user of the stream; the last one closes it. */
  release(): void {
    this._users--;
    if (this._users <= 0) {
      this.dispose();
    }
  }

  dispose(): void {
    if (this._disposed) {
      return;
    }
    this._disposed = true;
    ProjectEvents._open.delete(this.projectId);
    window.clearTimeout(this._retry);
    this._socket?.close();
    this._socket = null;
    Signal.clearData(this);
  }

  private url(): string {
    const base = this.settings.wsUrl;
    let url = URLExt.join(
      base,
      API_PREFIX,
      'projects',
      String(this.projectId),
      'events'
    );
    const token = this.settings.token;
    if (token && this.settings.appendToken) {
      url += `?token=${encodeURIComponent(token)}`;
    }
    return url;
  }

  private setState(state: ConnectionState): void {
    if (this._state !== state) {
      this._state = state;
      this._connectionChanged.emit(state);
    }
  }

  private connect(): void {
    if (this._disposed) {
      return;
    }
    this.setState('connecting');
    const socket = new this.settings.WebSocket(this.url());
    this._socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this._backoff = 500;
      this.setState('open');
    };
    socket.onmessage = (msg: MessageEvent) => {
      let event: IProjectEvent;
      try {
        event = JSON.parse(String(msg.data)) as IProjectEvent;
      } catch {
        return;
      }
      if (typeof event?.type !== 'string') {
        return;
      }
      if (event.type === 'hello') {
        this._username = String(event.username ?? '');
      }
      if (event.type === 'hello' || event.type === 'presence') {
        this._presence = (event.presence as IPresence[]) ?? [];
      }
      this._received.emit(event);
    };
    socket.onclose = (ev: CloseEvent) => {
      if (this._socket !== socket || this._disposed) {
        return;
      }
      this._socket = null;
      if (REFUSED_CODES.has(ev.code)) {
        this.setState('refused');
        return;
      }
      this.setState('closed');
      if (opened) {
        this.retry();
      } else {
        void this.retryUnlessGone();
      }
    };
  }

  private retry(): void {
    this._retry = window.setTimeout(() => this.connect(), this._backoff);
    this._backoff = Math.min(this._backoff * 2, MAX_BACKOFF_MS);
  }

  /** The upgrade failed: a 404 or 403 for the project itself means it is gone. */
  private async retryUnlessGone(): Promise<void> {
    try {
      await requestAPI(this.settings, ['projects', this.projectId]);
    } catch (err) {
      if (err instanceof ApiError && [403, 404].includes(err.status)) {
        if (!this._disposed) {
          this.setState('refused');
        }
        return;
      }
    }
    if (!this._disposed) {
      this.retry();
    }
  }

  private _users = 0;
  private _disposed = false;
  private _socket: WebSocket | null = null;
  private _state: ConnectionState = 'closed';
  private _backoff = 500;
  private _retry = 0;
  private _presence: IPresence[] = [];
  private _username = '';
  private _received = new Signal<this, IProjectEvent>(this);
  private _connectionChanged = new Signal<this, ConnectionState>(this);
}
