/**
 * The agent panel's controls: header, conversation picker with new and
 * delete, mode and model pickers, the input with Send and Stop.
 */
import { addIcon, deleteIcon, stopIcon } from '@jupyterlab/ui-components';

import { el, iconButton } from '../dom';
import { MODES } from './client';
import type { AgentMode } from './client';

export interface IControls {
  label: HTMLElement;
  chats: HTMLSelectElement;
  delete: HTMLButtonElement;
  mode: HTMLSelectElement;
  model: HTMLSelectElement;
  error: HTMLElement;
  notice: HTMLElement;
  scroll: HTMLElement;
  input: HTMLTextAreaElement;
  send: HTMLButtonElement;
  stop: HTMLButtonElement;
}

export interface IControlHandlers {
  select(cid: number | null): Promise<void>;
  remove(): Promise<void>;
  change(body: { mode?: AgentMode; model?: string }): Promise<void>;
  send(): Promise<void>;
  stop(): Promise<void>;
}

/** Build the controls into `root`, the transcript's node inside the scroll box. */
export function buildControls(
  root: HTMLElement,
  transcript: HTMLElement,
  h: IControlHandlers
): IControls {
  const c = {} as IControls;
  const header = el('div', 'ainb-agent-header');
  header.appendChild(el('span', 'ainb-agent-title', 'Agent'));
  c.label = el('span', 'ainb-agent-project');
  header.appendChild(c.label);

  const chats = el('div', 'ainb-agent-row');
  c.chats = el('select', 'ainb-agent-conversations ainb-agent-select');
  c.chats.title = 'Conversations';
  c.chats.addEventListener('change', () => {
    const v = c.chats.value;
    void h.select(v ? Number(v) : null);
  });
  const add = iconButton('ainb-agent-new', 'New conversation', addIcon);
  add.addEventListener('click', () => void h.select(null));
  c.delete = iconButton('ainb-agent-delete', 'Delete conversation', deleteIcon);
  c.delete.addEventListener('click', () => void h.remove());
  chats.append(c.chats, add, c.delete);

  const options = el('div', 'ainb-agent-row');
  c.mode = el('select', 'ainb-agent-mode ainb-agent-select');
  c.mode.title =
    'ask: every write and run waits for your approval; auto: writes and runs go ahead, deletes and kernel restarts ask; full: nothing asks';
  for (const mode of MODES) {
    c.mode.appendChild(new Option(mode, mode));
  }
  c.mode.addEventListener(
    'change',
    () => void h.change({ mode: c.mode.value as AgentMode })
  );
  c.model = el('select', 'ainb-agent-model ainb-agent-select');
  c.model.title = 'Model';
  c.model.addEventListener('change', () => {
    if (c.model.value) {
      void h.change({ model: c.model.value });
    }
  });
  options.append(
    el('label', 'ainb-agent-label', 'Mode'),
    c.mode,
    el('label', 'ainb-agent-label', 'Model'),
    c.model
  );

  c.error = el('div', 'ainb-agent-error');
  c.error.hidden = true;
  c.notice = el('div', 'ainb-agent-notice');
  c.scroll = el('div', 'ainb-agent-scroll');
  c.scroll.appendChild(transcript);

  const footer = el('div', 'ainb-agent-footer');
  c.input = el('textarea', 'ainb-agent-input');
  c.input.rows = 3;
  c.input.placeholder =
    'Ask the agent… (Enter sends, Shift+Enter for a new line)';
  c.input.addEventListener('keydown', event => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      void h.send();
    }
  });
  const buttons = el('div', 'ainb-agent-buttons');
  c.send = el(
    'button',
    'ainb-agent-send jp-Button jp-mod-styled jp-mod-accept',
    'Send'
  );
  c.send.type = 'button';
  c.send.addEventListener('click', () => void h.send());
  c.stop = el('button', 'ainb-agent-stop jp-Button jp-mod-styled jp-mod-warn');
  c.stop.type = 'button';
  stopIcon.element({ container: c.stop, elementSize: 'normal' });
  c.stop.appendChild(el('span', '', 'Stop'));
  c.stop.addEventListener('click', () => void h.stop());
  buttons.append(c.stop, c.send);
  footer.append(c.input, buttons);

  // The error sits by the input: most are about what was just sent.
  root.append(header, chats, options, c.notice, c.scroll, c.error, footer);
  return c;
}
