/**
 * Cards of the agent's actions in the chat: a collapsible tool-call card
 * (name, arguments, a diff for block edits, status and outputs for runs, a
 * "show block" link) and an approval card with Approve / Deny.
 *
 * Selectors: details.ainb-agent-tool[data-tool][data-status],
 * .ainb-agent-approval[data-approval-id][data-status], button.ainb-agent-approve,
 * button.ainb-agent-deny, a.ainb-agent-show-block.
 */
import { el, errorMessage } from '../dom';
import type { IChange } from './client';
import { lineDiff, parseUnified, renderDiff } from './diff';

export interface ICardActions {
  showBlock(blockId: number): void;
  decide(approvalId: number, approve: boolean): Promise<void>;
}

type Json = Record<string, unknown>;

/** Longest result text shown in a card (the rest is cut with a note). */
const RESULT_CHARS = 4000;

function asObject(value: unknown): Json {
  return value && typeof value === 'object' && !Array.isArray(value)
    ? (value as Json)
    : {};
}

/** A result as sent (object) or stored (JSON text, maybe cut). */
export function parseResult(value: unknown): unknown {
  if (typeof value !== 'string') {
    return value;
  }
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function clipped(text: string): string {
  return text.length > RESULT_CHARS
    ? `${text.slice(0, RESULT_CHARS)}\n… (${text.length - RESULT_CHARS} more characters)`
    : text;
}

function pre(text: string, className = 'ainb-agent-pre'): HTMLElement {
  return el('pre', className, clipped(text));
}

function firstLine(source: string): string {
  const line = source.split('\n').find(l => l.trim()) ?? '';
  return line.length > 60 ? `${line.slice(0, 60)}…` : line;
}

/** A few words saying what a call is about, for the card's summary line. */
function subject(name: string, args: Json): string {
  if (typeof args.source === 'string' && name === 'create_block') {
    return firstLine(args.source);
  }
  if (typeof args.block_id === 'number') {
    return `block ${args.block_id}`;
  }
  if (typeof args.target === 'string') {
    return String(args.target);
  }
  for (const key of ['name', 'query', 'dataset']) {
    if (typeof args[key] === 'string') {
      return String(args[key]);
    }
  }
  return '';
}

const STATUS_TEXT: Record<string, string> = {
  running: 'running…',
  waiting: 'waiting for approval',
  done: 'done',
  error: 'error'
};

export class ToolCard {
  readonly node: HTMLDetailsElement;

  constructor(
    readonly callId: string,
    readonly name: string,
    args: unknown,
    private readonly actions: ICardActions
  ) {
    this.args = asObject(parseResult(args));
    const node = el('details', 'ainb-agent-tool');
    node.dataset.tool = name;
    node.dataset.callId = callId;
    const summary = el('summary', 'ainb-agent-tool-summary');
    summary.appendChild(el('code', 'ainb-agent-tool-name', name));
    summary.appendChild(
      el('span', 'ainb-agent-tool-subject', subject(name, this.args))
    );
    this._status = el('span', 'ainb-agent-tool-status');
    summary.appendChild(this._status);
    node.appendChild(summary);
    this._body = el('div', 'ainb-agent-tool-body');
    node.appendChild(this._body);
    this.node = node;
    this.setStatus('running');
    this.renderArgs();
  }

  setStatus(status: 'running' | 'waiting' | 'done' | 'error'): void {
    this.node.dataset.status = status;
    this._status.textContent = STATUS_TEXT[status];
  }

  /** The call's result arrived (streamed or read back from the conversation). */
  setResult(result: unknown, isError: boolean, change: IChange | null): void {
    this.setStatus(isError ? 'error' : 'done');
    const value = parseResult(result);
    const obj = asObject(value);
    if (change) {
      this.showChange(change);
    }
    const out = el('div', 'ainb-agent-tool-result');
    if (isError) {
      const text =
        typeof obj.error === 'string' ? obj.error : JSON.stringify(value);
      out.appendChild(pre(text ?? '', 'ainb-agent-pre ainb-agent-error-text'));
    } else if (this.name === 'run_block') {
      this.renderRun(out, obj);
    } else if (this.name === 'run_pipeline') {
      out.appendChild(
        el('div', 'ainb-agent-run-status', `pipeline ${obj.status ?? ''}`)
      );
      for (const item of (obj.blocks as Json[] | undefined) ?? []) {
        const line = `block ${item.block_id}: ${item.status}${item.reason ? ` (${item.reason})` : ''}`;
        out.appendChild(el('div', 'ainb-agent-run-line', line));
      }
    } else if (!change) {
      const text =
        typeof value === 'string' ? value : JSON.stringify(value, null, 2);
      out.appendChild(pre(text ?? ''));
    }
    this._body.appendChild(out);
    const blockId =
      (typeof this.args.block_id === 'number' && this.args.block_id) ||
      change?.block_id ||
      (this.name === 'create_block' && typeof obj.id === 'number' && obj.id);
    if (blockId && change?.kind !== 'block_deleted') {
      this.addShowBlock(Number(blockId));
    }
  }

  private renderArgs(): void {
    const args = this.args;
    const rest = Object.entries(args).filter(([k]) => k !== 'source');
    if (rest.length) {
      const list = el('div', 'ainb-agent-tool-args');
      for (const [key, value] of rest) {
        const row = el('div', 'ainb-agent-tool-arg');
        row.appendChild(el('span', 'ainb-agent-arg-key', key));
        row.appendChild(
          el('code', 'ainb-agent-arg-value', JSON.stringify(value))
        );
        list.appendChild(row);
      }
      this._body.appendChild(list);
    }
    if (typeof args.source === 'string') {
      this._source = renderDiff(
        this.name === 'create_block'
          ? lineDiff('', args.source)
          : args.source.split('\n').map(text => ({ sign: ' ', text }))
      );
      this._body.appendChild(this._source);
    }
  }

  private showChange(change: IChange): void {
    const before = typeof change.before === 'string' ? change.before : '';
    const after = typeof change.after === 'string' ? change.after : '';
    if (!before && !after) {
      return;
    }
    const diff = renderDiff(lineDiff(before, after));
    if (this._source) {
      this._source.replaceWith(diff);
    } else {
      this._body.appendChild(diff);
    }
    this._source = diff;
  }

  private renderRun(out: HTMLElement, run: Json): void {
    const status = String(run.status ?? '');
    const head = el('div', 'ainb-agent-run-status', `run ${status}`);
    head.dataset.status = status;
    out.appendChild(head);
    if (typeof run.output === 'string' && run.output) {
      out.appendChild(pre(run.output, 'ainb-agent-pre ainb-agent-output'));
    }
    const error = asObject(run.error);
    if (error.ename) {
      out.appendChild(
        el(
          'div',
          'ainb-agent-error-text',
          `${error.ename}: ${error.evalue ?? ''}`
        )
      );
      if (typeof error.traceback === 'string' && error.traceback) {
        out.appendChild(pre(error.traceback, 'ainb-agent-pre ainb-agent-tb'));
      }
    }
    const images = (run.images as unknown[] | undefined) ?? [];
    if (images.length) {
      out.appendChild(
        el('div', 'ainb-agent-run-line', `${images.length} image(s)`)
      );
    }
  }

  private addShowBlock(blockId: number): void {
    if (this.node.querySelector('.ainb-agent-show-block')) {
      return;
    }
    const link = el('a', 'ainb-agent-show-block', 'show block');
    link.href = '#';
    link.dataset.blockId = String(blockId);
    link.addEventListener('click', event => {
      event.preventDefault();
      this.actions.showBlock(blockId);
    });
    this.node.querySelector('summary')?.appendChild(link);
  }

  private args: Json;
  private _status: HTMLElement;
  private _body: HTMLElement;
  private _source: HTMLElement | null = null;
}

/** What the agent waits for, with Approve / Deny (or how it was decided). */
export class ApprovalCard {
  readonly node: HTMLElement;

  constructor(
    readonly approvalId: number,
    name: string,
    preview: unknown,
    private readonly actions: ICardActions
  ) {
    const view = asObject(preview);
    const node = el('div', 'ainb-agent-approval');
    node.dataset.approvalId = String(approvalId);
    const action = typeof view.action === 'string' ? view.action : name;
    node.appendChild(
      el('div', 'ainb-agent-approval-title', `The agent wants to ${action}`)
    );
    if (typeof view.diff === 'string' && view.diff) {
      node.appendChild(renderDiff(parseUnified(view.diff)));
    } else if (typeof view.source === 'string') {
      node.appendChild(pre(view.source));
    }
    this._buttons = el('div', 'ainb-agent-approval-buttons');
    const approve = el(
      'button',
      'ainb-agent-approve jp-Button jp-mod-styled jp-mod-accept',
      'Approve'
    );
    const deny = el(
      'button',
      'ainb-agent-deny jp-Button jp-mod-styled jp-mod-reject',
      'Deny'
    );
    approve.type = deny.type = 'button';
    approve.addEventListener('click', () => void this.decide(true));
    deny.addEventListener('click', () => void this.decide(false));
    this._buttons.append(approve, deny);
    node.appendChild(this._buttons);
    this._note = el('div', 'ainb-agent-approval-note');
    node.appendChild(this._note);
    this.node = node;
    this.setStatus('pending');
  }

  setStatus(status: 'pending' | 'approved' | 'denied' | 'expired'): void {
    this.node.dataset.status = status;
    const pending = status === 'pending';
    this._buttons.hidden = !pending;
    this._note.textContent = pending
      ? ''
      : { approved: 'Approved', denied: 'Denied', expired: 'Expired' }[status];
  }

  private async decide(approve: boolean): Promise<void> {
    this._buttons
      .querySelectorAll('button')
      .forEach(b => ((b as HTMLButtonElement).disabled = true));
    try {
      await this.actions.decide(this.approvalId, approve);
      this.setStatus(approve ? 'approved' : 'denied');
    } catch (err) {
      this._note.textContent = errorMessage(err);
      this._buttons
        .querySelectorAll('button')
        .forEach(b => ((b as HTMLButtonElement).disabled = false));
    }
  }

  private _buttons: HTMLElement;
  private _note: HTMLElement;
}
