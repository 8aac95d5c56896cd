/**
 * The agent chat panel (right sidebar, id `ainb-agent-panel`), following the
 * active project: its conversations (create, pick, delete), the selected one's
 * messages, an input (Enter sends, Shift+Enter a new line), the answer
 * streamed from the POST messages body, Stop while a turn runs, the mode and
 * model pickers, and the agent working live when another viewer started it
 * (`agent-step` events of the project's stream).
 *
 * Selectors: select.ainb-agent-conversations, button.ainb-agent-new,
 * button.ainb-agent-delete, select.ainb-agent-mode, select.ainb-agent-model,
 * textarea.ainb-agent-input, button.ainb-agent-send, button.ainb-agent-stop,
 * .ainb-agent-empty (no provider reachable).
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import type { ServerConnection } from '@jupyterlab/services';
import { LabIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { el, errorMessage } from '../dom';
import { ProjectEvents } from '../projectevents';
import type { IProjectEvent } from '../projectevents';
import { AgentClient } from './client';
import type {
  AgentMode,
  IAgentEvent,
  IConversation,
  IProvider
} from './client';
import { noProviderNotice } from './empty';
import { Transcript } from './transcript';
import { buildControls } from './controls';
import type { IControls } from './controls';

export const AGENT_PANEL_ID = 'ainb-agent-panel';

export const agentIcon = new LabIcon({
  name: 'ai-notebook-ext:agent-icon',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M4 4h16a2 2 0 0 1 2 2v9a2 2 0 0 1-2 2h-7l-5 4v-4H4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2zm0 2v9h6v2l2.5-2H20V6z"/>
    <path d="M12 7.2l.9 1.9 1.9.9-1.9.9-.9 1.9-.9-1.9-1.9-.9 1.9-.9z"/>
  </g>
</svg>`
});

export class AgentPanel extends Widget {
  constructor(
    private readonly settings: ServerConnection.ISettings,
    rendermime: IRenderMimeRegistry,
    private readonly openBlock: (projectId: number, blockId: number) => void
  ) {
    super();
    this.id = AGENT_PANEL_ID;
    this.addClass('ainb-agent-panel');
    this.title.icon = agentIcon;
    this.title.caption = 'AI agent';
    this.transcript = new Transcript(rendermime, {
      showBlock: blockId => {
        if (this.projectId !== null) {
          this.openBlock(this.projectId, blockId);
        }
      },
      decide: async (approvalId, approve) => {
        await this.client?.decide(approvalId, approve);
      }
    });
    this.controls = buildControls(this.node, this.transcript.node, this);
    this.render();
  }

  get projectId(): number | null {
    return this.client?.projectId ?? null;
  }

  /** Follow a project (null: none open). */
  async setProject(projectId: number | null, label = ''): Promise<void> {
    this.c.label.textContent = label;
    if (projectId === this.projectId) {
      return;
    }
    this.events?.release();
    this.events = null;
    this.client = null;
    this.cid = null;
    this.conversations = [];
    this.transcript.clear();
    if (projectId !== null) {
      this.client = new AgentClient(this.settings, projectId);
      this.events = ProjectEvents.acquire(this.settings, projectId);
      this.events.received.connect(this.onProjectEvent, this);
      await Promise.all([this.loadProviders(), this.refreshList(true)]);
    }
    this.render();
  }

  dispose(): void {
    this.events?.release();
    this.events = null;
    super.dispose();
  }

  async loadProviders(): Promise<void> {
    const client = this.client;
    try {
      this.providers = (await client?.providers()) ?? [];
      this.providersError = '';
    } catch (err) {
      this.providers = [];
      this.providersError = errorMessage(err);
    }
    this.render();
  }

  /** Reload the conversation list; `pick` selects the most recent one. */
  async refreshList(pick = false): Promise<void> {
    const client = this.client;
    if (!client) {
      return;
    }
    try {
      this.conversations = await client.list();
    } catch (err) {
      this.showError(errorMessage(err));
      return;
    }
    if (client !== this.client) {
      return;
    }
    const known = this.conversations.some(c => c.id === this.cid);
    if ((pick || !known) && this.streamingCid === null) {
      await this.select(this.conversations[0]?.id ?? null);
    }
    this.render();
  }

  async select(cid: number | null): Promise<void> {
    this.cid = cid;
    this.transcript.clear();
    this.render();
    if (cid !== null) {
      await this.reload();
    }
  }

  /** Show the selected conversation as stored. */
  async reload(): Promise<void> {
    const client = this.client;
    const cid = this.cid;
    if (!client || cid === null) {
      return;
    }
    const seen = this.steps.get(cid) ?? 0;
    try {
      const detail = await client.get(cid);
      if (this.cid !== cid || this.streamingCid === cid) {
        return;
      }
      this.transcript.load(detail);
      if ((this.steps.get(cid) ?? 0) !== seen) {
        // a step arrived while the stored conversation was read: it may be missing from
        // what was read and was not applied, so read it again
        void this.reload();
      }
      const i = this.conversations.findIndex(c => c.id === cid);
      if (i >= 0) {
        this.conversations[i] = detail;
      }
      this.render();
    } catch (err) {
      this.showError(errorMessage(err));
    }
  }

  async send(): Promise<void> {
    const content = this.c.input.value.trim();
    const client = this.client;
    if (!content || !client || this.streamingCid !== null) {
      return;
    }
    if (this.c.send.disabled) {
      // Enter with no reachable model: the notice above says what to set up.
      this.c.notice.scrollIntoView?.({ block: 'nearest' });
      return;
    }
    try {
      const cid = this.cid ?? (await this.createConversation()).id;
      this.c.input.value = '';
      this.streamingCid = cid;
      this.streamStarted = this.stopWanted = false;
      this.transcript.addUser(content);
      this.render();
      await client.send(cid, content, event => this.onOwnEvent(cid, event));
    } catch (err) {
      this.transcript.addNote(errorMessage(err), 'error');
    } finally {
      this.streamingCid = null;
      this.render();
      void this.refreshList();
    }
  }

  async stop(): Promise<void> {
    // The server knows the turn once it sent its first event: a Stop before
    // that waits for it (a cancel would find no turn in progress).
    if (this.streamingCid !== null && !this.streamStarted) {
      this.stopWanted = true;
      return;
    }
    if (this.client && this.cid !== null) {
      try {
        await this.client.cancel(this.cid);
      } catch (err) {
        this.showError(errorMessage(err));
      }
    }
  }

  private async createConversation(): Promise<IConversation> {
    const body: { mode: AgentMode; model?: string } = {
      mode: this.c.mode.value as AgentMode
    };
    if (this.c.model.value) {
      body.model = this.c.model.value;
    }
    const conversation = await this.client!.create(body);
    this.conversations.unshift(conversation);
    this.cid = conversation.id;
    this.transcript.clear();
    this.render();
    return conversation;
  }

  async remove(): Promise<void> {
    const current = this.current;
    if (!current || !this.client) {
      return;
    }
    const answer = await showDialog({
      title: 'Delete conversation',
      body: `Delete "${current.title || `Conversation ${current.id}`}" and its messages?`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await this.client.remove(current.id);
      this.cid = null;
      await this.refreshList(true);
    } catch (err) {
      this.showError(errorMessage(err));
    }
  }

  async change(body: { mode?: AgentMode; model?: string }): Promise<void> {
    if (!this.client || this.cid === null) {
      return;
    }
    try {
      const updated = await this.client.update(this.cid, body);
      const i = this.conversations.findIndex(c => c.id === updated.id);
      if (i >= 0) {
        this.conversations[i] = updated;
      }
    } catch (err) {
      this.showError(errorMessage(err));
    }
    this.render();
  }

  private onOwnEvent(cid: number, event: IAgentEvent): void {
    this.ownTurns.add(`${cid}:${event.turn}`);
    this.streamStarted = true;
    if (this.cid === cid) {
      this.transcript.apply(event);
    }
    if (this.stopWanted) {
      this.stopWanted = false;
      void this.stop();
    }
  }

  /** Another viewer's turn (or one started before this tab): follow it live. */
  private onProjectEvent(_: ProjectEvents, msg: IProjectEvent): void {
    if (msg.type !== 'agent-step') {
      return;
    }
    const step = msg.event as IAgentEvent | undefined;
    const cid = Number(msg.conversation_id);
    if (!step || cid === this.streamingCid) {
      return;
    }
    if (this.ownTurns.has(`${cid}:${msg.turn}`)) {
      return;
    }
    if (step.type !== 'text') {
      this.steps.set(cid, (this.steps.get(cid) ?? 0) + 1);
    }
    if (step.type === 'turn' || step.type === 'done') {
      void this.refreshList();
    }
    if (cid !== this.cid) {
      return;
    }
    if (step.type === 'turn' || step.type === 'done') {
      void this.reload();
    } else {
      this.transcript.apply(step);
    }
  }

  private get current(): IConversation | undefined {
    return this.conversations.find(c => c.id === this.cid);
  }

  private showError(message: string): void {
    this.c.error.textContent = message;
    this.c.error.hidden = !message;
  }

  private get c(): IControls {
    return this.controls;
  }

  private render(): void {
    const hasProject = this.client !== null;
    const current = this.current;
    this.c.chats.replaceChildren(new Option('New conversation', ''));
    for (const c of this.conversations) {
      const label = c.title || `Conversation ${c.id}`;
      this.c.chats.appendChild(new Option(label, String(c.id)));
    }
    this.c.chats.value = this.cid === null ? '' : String(this.cid);
    this.c.delete.disabled = !current;
    if (current) {
      this.c.mode.value = current.mode;
    }
    const models = this.providers
      .filter(p => p.reachable)
      .flatMap(p => p.models.map(m => `${p.name}:${m}`));
    const chosen = current?.model ?? this.c.model.value;
    this.c.model.replaceChildren(new Option('default model', ''));
    for (const m of chosen && !models.includes(chosen)
      ? [chosen, ...models]
      : models) {
      this.c.model.appendChild(new Option(m, m));
    }
    this.c.model.value = chosen ?? '';
    const running =
      this.streamingCid !== null ||
      (current !== undefined && current.state !== 'idle');
    this.c.stop.hidden = !running;
    // Nothing to send to without a reachable model (the notice says what to set).
    this.c.send.disabled = running || !hasProject || models.length === 0;
    this.c.input.disabled = !hasProject;
    this.showNotice(hasProject, models.length > 0);
  }

  private showNotice(hasProject: boolean, reachable: boolean): void {
    this.c.notice.replaceChildren();
    if (!hasProject) {
      this.c.notice.appendChild(
        el('div', 'ainb-agent-hint', 'Open a project to work with its agent.')
      );
    } else if (this.providersError) {
      this.c.notice.appendChild(
        el('div', 'ainb-agent-error', this.providersError)
      );
    } else if (!reachable && this.providers.length) {
      this.c.notice.appendChild(
        noProviderNotice(this.providers, () => void this.loadProviders())
      );
    } else if (this.cid === null && !this.transcript.node.childElementCount) {
      this.c.notice.appendChild(
        el(
          'div',
          'ainb-agent-hint',
          'Tell the agent what you want: "load sales, clean the dates, plot revenue by month". It creates, edits and runs blocks; in ask mode each write and run waits for your approval.'
        )
      );
    }
  }

  private readonly transcript: Transcript;
  private readonly controls: IControls;
  private client: AgentClient | null = null;
  private events: ProjectEvents | null = null;
  private conversations: IConversation[] = [];
  private providers: IProvider[] = [];
  private providersError = '';
  private cid: number | null = null;
  /** Per conversation, how many steps (other than text) other tabs' turns have made. */
  private readonly steps = new Map<number, number>();
  private streamingCid: number | null = null;
  private streamStarted = false;
  private stopWanted = false;
  private ownTurns = new Set<string>();
}
