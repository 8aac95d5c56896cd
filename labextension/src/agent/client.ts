/**
 * Client of the agent REST API (`{base}ai-notebook/api/projects/{id}/agent/...`)
 * and of `/ai/providers`. A turn's answer is read from the POST messages body
 * as JSON lines, event by event, while it streams.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

import { API_PREFIX, ApiError, CLIENT_ID, requestAPI } from '../api';

export type AgentMode = 'ask' | 'auto' | 'full';
export const MODES: AgentMode[] = ['ask', 'auto', 'full'];

export interface IConversation {
  id: number;
  project_id: number;
  title: string;
  model: string;
  mode: AgentMode;
  /** running: a turn is going on; waiting: it waits for an approval. */
  state: 'idle' | 'running' | 'waiting';
  turns: number;
  tokens_in: number;
  tokens_out: number;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface IToolCallRef {
  id: string;
  name: string;
  arguments: unknown;
}

/** What a tool changed (kind, block_id, before, after). */
export interface IChange {
  kind: string;
  block_id?: number;
  before?: string;
  after?: string;
  [key: string]: unknown;
}

export interface IMessage {
  id: number;
  turn: number;
  step: number;
  role: 'user' | 'assistant' | 'tool';
  content: string;
  tool_calls: IToolCallRef[] | null;
  tool_call_id: string | null;
  tool_name: string | null;
  arguments: Record<string, unknown> | null;
  is_error: boolean;
  change: IChange | null;
  status: string;
  provider: string | null;
  model: string | null;
  tokens_in: number | null;
  tokens_out: number | null;
  created_at: string;
}

export interface IApproval {
  id: number;
  conversation_id: number;
  turn: number;
  step: number;
  tool_call_id: string;
  tool_name: string;
  arguments: Record<string, unknown>;
  preview: Record<string, unknown>;
  status: 'pending' | 'approved' | 'denied' | 'expired';
}

export interface IConversationDetail extends IConversation {
  messages: IMessage[];
  approvals: IApproval[];
}

export interface IProvider {
  name: string;
  configured: boolean;
  hint: string;
  reachable: boolean | null;
  error: string;
  models: string[];
}

/**
 * One event of a turn (a JSON line of the answer, or the `event` of an
 * `agent-step` on the project's stream): `type` is turn, text, tool_call,
 * approval_required, approval, tool_result, usage, error or done.
 */
export interface IAgentEvent {
  type: string;
  conversation_id: number;
  turn: number;
  step?: number;
  [key: string]: unknown;
}

export class AgentClient {
  constructor(
    readonly settings: ServerConnection.ISettings,
    readonly projectId: number
  ) {}

  private path(...rest: Array<string | number>): Array<string | number> {
    return ['projects', this.projectId, 'agent', ...rest];
  }

  async list(): Promise<IConversation[]> {
    const page = await requestAPI<{ items: IConversation[] }>(
      this.settings,
      this.path('conversations')
    );
    return page.items;
  }

  create(body: { mode?: AgentMode; model?: string }): Promise<IConversation> {
    return requestAPI(this.settings, this.path('conversations'), {
      method: 'POST',
      body
    });
  }

  get(cid: number): Promise<IConversationDetail> {
    return requestAPI(this.settings, this.path('conversations', cid));
  }

  update(
    cid: number,
    body: { title?: string; model?: string; mode?: AgentMode }
  ): Promise<IConversation> {
    return requestAPI(this.settings, this.path('conversations', cid), {
      method: 'PATCH',
      body
    });
  }

  remove(cid: number): Promise<void> {
    return requestAPI(this.settings, this.path('conversations', cid), {
      method: 'DELETE'
    });
  }

  cancel(cid: number): Promise<IConversation> {
    return requestAPI(
      this.settings,
      this.path('conversations', cid, 'cancel'),
      {
        method: 'POST',
        body: {}
      }
    );
  }

  decide(approvalId: number, approve: boolean): Promise<IApproval> {
    return requestAPI(this.settings, this.path('approvals', approvalId), {
      method: 'POST',
      body: { approve }
    });
  }

  async providers(): Promise<IProvider[]> {
    const page = await requestAPI<{ items: IProvider[] }>(this.settings, [
      'ai',
      'providers'
    ]);
    return page.items;
  }

  /**
   * Send a message and call `onEvent` with each event of the turn as it
   * arrives; resolves when the answer ends. HTTP errors throw `ApiError`.
   */
  async send(
    cid: number,
    content: string,
    onEvent: (event: IAgentEvent) => void
  ): Promise<void> {
    const url = URLExt.join(
      this.settings.baseUrl,
      API_PREFIX,
      ...this.path('conversations', cid, 'messages').map(p =>
        encodeURIComponent(String(p))
      )
    );
    const init: RequestInit = {
      method: 'POST',
      body: JSON.stringify({ content }),
      headers: {
        'Content-Type': 'application/json',
        'X-AINB-Client': CLIENT_ID
      }
    };
    let response: Response;
    try {
      response = await ServerConnection.makeRequest(url, init, this.settings);
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      throw new ApiError(`Could not reach the server: ${reason}`, 0);
    }
    if (!response.ok) {
      const text = await response.text();
      let message = `Request failed: ${response.status}`;
      try {
        message = JSON.parse(text)?.error?.message || message;
      } catch {
        // not JSON
      }
      throw new ApiError(message, response.status);
    }
    const reader = response.body?.getReader();
    if (!reader) {
      throw new ApiError('The answer has no body', response.status);
    }
    const decoder = new TextDecoder();
    let buffer = '';
    const flush = (final: boolean) => {
      const lines = buffer.split('\n');
      buffer = final ? '' : (lines.pop() ?? '');
      for (const line of lines) {
        if (line.trim()) {
          try {
            onEvent(JSON.parse(line) as IAgentEvent);
          } catch (err) {
            console.warn('ai-notebook: bad agent event line', err);
          }
        }
      }
    };
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        buffer += decoder.decode();
        flush(true);
        return;
      }
      buffer += decoder.decode(value, { stream: true });
      flush(false);
    }
  }
}
