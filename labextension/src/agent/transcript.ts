/**
 * The messages of one conversation: the user's prompts, the agent's answers
 * (markdown through rendermime, untrusted, re-rendered as text streams in),
 * tool-call and approval cards, errors and how a turn ended. Built from the
 * stored conversation (`load`) and kept up to date by turn events (`apply`),
 * from this tab's own stream or another viewer's through the event stream.
 *
 * Selectors: .ainb-agent-message[data-role] (user, assistant, error, status).
 */
import type { IRenderMime, IRenderMimeRegistry } from '@jupyterlab/rendermime';
import { MimeModel } from '@jupyterlab/rendermime';

import { el } from '../dom';
import { ApprovalCard, ToolCard } from './cards';
import type { ICardActions } from './cards';
import type { IAgentEvent, IChange, IConversationDetail } from './client';

const ENDINGS: Record<string, string> = {
  step_limit: 'Stopped: the step limit was reached.',
  token_budget: "Stopped: the turn's token budget was spent.",
  cancelled: 'Stopped.',
  interrupted: 'Interrupted: the server stopped during this turn.',
  error: 'The turn ended with an error.'
};

/** An answer rendered as markdown, re-rendered at most every 60 ms while it grows. */
class Answer {
  readonly node: HTMLElement;
  text = '';

  constructor(rendermime: IRenderMimeRegistry) {
    this.node = el('div', 'ainb-agent-message');
    this.node.dataset.role = 'assistant';
    this.renderer = rendermime.createRenderer('text/markdown');
    this.renderer.addClass('ainb-agent-markdown');
    this.node.appendChild(this.renderer.node);
  }

  /**
   * Add streamed text: the first piece is drawn at once (the first token shows
   * as soon as it arrives), later ones at most every 60 ms.
   */
  append(text: string): void {
    const first = this.text === '';
    this.text += text;
    if (first) {
      void this.render();
      this.last = performance.now();
      return;
    }
    if (!this.timer) {
      const wait = Math.max(0, this.last + 60 - performance.now());
      this.timer = window.setTimeout(() => {
        this.timer = 0;
        this.last = performance.now();
        void this.render();
      }, wait);
    }
  }

  async render(): Promise<void> {
    const model = new MimeModel({
      data: { 'text/markdown': this.text },
      trusted: false
    });
    await this.renderer.renderModel(model);
  }

  dispose(): void {
    window.clearTimeout(this.timer);
    this.renderer.dispose();
  }

  private renderer: IRenderMime.IRenderer;
  private timer = 0;
  private last = 0;
}

export class Transcript {
  readonly node: HTMLElement;

  constructor(
    private readonly rendermime: IRenderMimeRegistry,
    private readonly actions: ICardActions
  ) {
    this.node = el('div', 'ainb-agent-transcript');
  }

  clear(): void {
    this.answers.forEach(a => a.dispose());
    this.answers = [];
    this.cards.clear();
    this.approvals.clear();
    this.current = null;
    this.node.replaceChildren();
  }

  /** Show a stored conversation: its messages, cards and approvals. */
  load(detail: IConversationDetail): void {
    this.clear();
    for (const msg of detail.messages) {
      if (msg.role === 'user') {
        this.addUser(msg.content);
      } else if (msg.role === 'assistant') {
        if (msg.status !== 'complete') {
          this.addNote(ENDINGS[msg.status] ?? msg.content, 'status');
          continue;
        }
        if (msg.content) {
          this.newAnswer().append(msg.content);
        }
        this.current = null;
        for (const call of msg.tool_calls ?? []) {
          this.addCard(call.id, call.name, call.arguments);
        }
      } else {
        const card =
          this.cards.get(msg.tool_call_id ?? '') ??
          this.addCard(
            msg.tool_call_id ?? '',
            msg.tool_name ?? '',
            msg.arguments
          );
        card.setResult(msg.content, msg.is_error, msg.change);
      }
    }
    for (const approval of detail.approvals) {
      const card = this.addApproval(
        approval.id,
        approval.tool_call_id,
        approval.tool_name,
        approval.preview
      );
      card.setStatus(approval.status);
    }
    this.scroll(true);
  }

  addUser(text: string): void {
    const node = el('div', 'ainb-agent-message', text);
    node.dataset.role = 'user';
    this.node.appendChild(node);
    this.current = null;
    this.scroll(true);
  }

  addNote(text: string, role: 'error' | 'status'): void {
    const node = el('div', 'ainb-agent-message', text);
    node.dataset.role = role;
    this.node.appendChild(node);
    this.current = null;
    this.scroll();
  }

  /** Apply one event of a turn. */
  apply(event: IAgentEvent): void {
    switch (event.type) {
      case 'text': {
        const key = `${event.turn}:${event.step}`;
        if (!this.current || this.currentKey !== key) {
          this.current = this.newAnswer();
          this.currentKey = key;
        }
        this.current.append(String(event.text ?? ''));
        break;
      }
      case 'tool_call':
        this.current = null;
        if (!this.cards.has(String(event.id))) {
          this.addCard(String(event.id), String(event.name), event.arguments);
        }
        break;
      case 'approval_required': {
        this.current = null;
        this.addApproval(
          Number(event.approval_id),
          String(event.tool_call_id),
          String(event.name),
          event.preview
        );
        break;
      }
      case 'approval': {
        const card = this.approvals.get(Number(event.approval_id));
        card?.setStatus(event.approved ? 'approved' : 'denied');
        break;
      }
      case 'tool_result': {
        const id = String(event.id);
        const card =
          this.cards.get(id) ?? this.addCard(id, String(event.name), {});
        card.setResult(
          event.result,
          Boolean(event.is_error),
          (event.change as IChange | null) ?? null
        );
        break;
      }
      case 'error':
        this.addNote(String(event.message ?? 'error'), 'error');
        break;
      case 'done': {
        const status = String(event.status);
        if (status !== 'answered') {
          this.addNote(ENDINGS[status] ?? status, 'status');
        }
        for (const card of this.approvals.values()) {
          if (card.node.dataset.status === 'pending') {
            card.setStatus('expired');
          }
        }
        break;
      }
      default:
        return;
    }
    this.scroll();
  }

  private newAnswer(): Answer {
    const answer = new Answer(this.rendermime);
    this.answers.push(answer);
    this.node.appendChild(answer.node);
    return answer;
  }

  private addCard(id: string, name: string, args: unknown): ToolCard {
    const card = new ToolCard(id, name, args, this.actions);
    this.cards.set(id, card);
    this.node.appendChild(card.node);
    return card;
  }

  private addApproval(
    approvalId: number,
    callId: string,
    name: string,
    preview: unknown
  ): ApprovalCard {
    let card = this.approvals.get(approvalId);
    if (!card) {
      card = new ApprovalCard(approvalId, name, preview, this.actions);
      this.approvals.set(approvalId, card);
      const tool = this.cards.get(callId);
      if (tool) {
        tool.setStatus('waiting');
        tool.node.after(card.node);
      } else {
        this.node.appendChild(card.node);
      }
    }
    return card;
  }

  /** Keep the newest message in view, unless the reader scrolled up. */
  private scroll(force = false): void {
    const box = this.node.parentElement;
    if (!box) {
      return;
    }
    const nearBottom =
      box.scrollHeight - box.scrollTop - box.clientHeight < 120;
    if (force || nearBottom) {
      requestAnimationFrame(() => (box.scrollTop = box.scrollHeight));
    }
  }

  private answers: Answer[] = [];
  private cards = new Map<string, ToolCard>();
  private approvals = new Map<number, ApprovalCard>();
  private current: Answer | null = null;
  private currentKey = '';
}
