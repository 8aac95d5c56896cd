/**
 * The Schedules view of a project (a main-area tab): each schedule's cron,
 * target, time zone, next run (relative and absolute) and last run; editors
 * add schedules (cron + target form, the server's validation message shown
 * under it), switch them on and off, and delete them.
 *
 * Stable selectors: .ainb-schedules, .ainb-schedule[data-schedule-id]
 * (.ainb-schedule-cron, .ainb-schedule-next, .ainb-schedule-enabled,
 * button.ainb-schedule-delete), form.ainb-schedule-form (input.ainb-schedule-
 * cron-input, select.ainb-schedule-target, select.ainb-schedule-block,
 * input.ainb-schedule-tz, button.ainb-schedule-add, .ainb-schedule-error).
 */
import { Dialog, MainAreaWidget, showDialog } from '@jupyterlab/apputils';
import { Switch, deleteIcon } from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import type { AiNotebookAPI, IBlock } from './api';
import { el, errorMessage, iconButton } from './dom';
import type {
  ISchedule,
  IScheduleCreate,
  ScheduleTarget
} from './schedulesapi';
import {
  createSchedule,
  deleteSchedule,
  listSchedules,
  relativeTime,
  updateSchedule
} from './schedulesapi';
import { firstLine } from './states';

/** How often the list is read again while the tab is open (next runs move). */
const RELOAD_MS = 10_000;

function localZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

export class ScheduleView extends Widget {
  constructor(
    private readonly api: AiNotebookAPI,
    readonly projectId: number,
    readonly canEdit: boolean
  ) {
    super();
    this.addClass('ainb-schedules');
    this.title.label = 'Schedules';
    this.list = el('div', 'ainb-schedule-list');
    this.form = this.buildForm();
    this.node.append(
      el('h3', undefined, 'Schedules'),
      el(
        'p',
        'ainb-schedule-help',
        'Each schedule starts a pipeline run at the times its cron names ' +
          '(5 fields, or 6 with seconds last), as the user who created it.'
      ),
      this.list
    );
    if (canEdit) {
      this.node.appendChild(this.form);
    }
    void this.refresh();
  }

  /** Read the schedules (and the blocks a schedule may target) again. */
  async refresh(): Promise<void> {
    try {
      const [schedules, blocks, project] = await Promise.all([
        listSchedules(this.api, this.projectId),
        this.api.listBlocks(this.projectId),
        this.api.getProject(this.projectId)
      ]);
      this.title.label = `Schedules · ${project.name}`;
      this.blocks = blocks.items.filter(b => b.kind === 'code');
      this.schedules = schedules;
      this.render();
    } catch (err) {
      this.list.textContent = '';
      this.list.appendChild(el('div', 'ainb-error', errorMessage(err)));
    }
  }

  protected onAfterAttach(): void {
    this.timer = window.setInterval(() => void this.refresh(), RELOAD_MS);
    this.attachSwitches();
  }

  /** Lumino widgets attach to hosts in the document only. */
  private attachSwitches(): void {
    if (!this.isAttached) {
      return;
    }
    for (const [toggle, host] of this.switches) {
      if (!toggle.isAttached && host.isConnected) {
        Widget.attach(toggle, host);
      }
    }
  }

  protected onBeforeDetach(): void {
    window.clearInterval(this.timer);
  }

  private render(): void {
    for (const [toggle] of this.switches) {
      toggle.dispose();
    }
    this.switches = [];
    this.list.textContent = '';
    if (this.schedules.length === 0) {
      this.list.appendChild(
        el('div', 'ainb-empty', 'This project has no schedules yet.')
      );
    } else {
      const table = el('table', 'ainb-schedule-table');
      const head = el('tr');
      for (const name of ['Cron', 'Target', 'On', 'Next run', 'Last run', '']) {
        head.appendChild(el('th', undefined, name));
      }
      table.appendChild(head);
      for (const schedule of this.schedules) {
        table.appendChild(this.row(schedule));
      }
      this.list.appendChild(table);
      this.attachSwitches();
    }
    this.fillBlocks();
  }

  private row(schedule: ISchedule): HTMLTableRowElement {
    const tr = el('tr', 'ainb-schedule');
    tr.dataset.scheduleId = String(schedule.id);
    tr.dataset.enabled = String(schedule.enabled);
    const cron = el('td');
    cron.append(
      el('code', 'ainb-schedule-cron', schedule.cron),
      el('div', 'ainb-schedule-tz-label', schedule.timezone)
    );
    const target = el(
      'td',
      'ainb-schedule-target-label',
      this.target(schedule)
    );
    const toggle = el('td', 'ainb-schedule-enabled');
    const on = new Switch();
    on.value = schedule.enabled;
    on.caption = schedule.enabled ? 'Enabled: click to pause' : 'Paused';
    if (!this.canEdit) {
      on.node.querySelector('button')?.setAttribute('disabled', '');
    }
    on.valueChanged.connect((_, change) => {
      void this.change(schedule, { enabled: change.newValue });
    });
    const next = el('td', 'ainb-schedule-next');
    if (schedule.next_run_at) {
      next.append(
        el(
          'span',
          'ainb-schedule-relative',
          relativeTime(schedule.next_run_at)
        ),
        el(
          'div',
          'ainb-schedule-absolute',
          new Date(schedule.next_run_at).toLocaleString()
        )
      );
      next.title = `${schedule.next_run_at} (UTC)`;
    } else {
      next.textContent = 'paused';
    }
    const last = el('td', 'ainb-schedule-last');
    if (schedule.last_run_at) {
      last.appendChild(
        el('span', undefined, relativeTime(schedule.last_run_at))
      );
      last.title = new Date(schedule.last_run_at).toLocaleString();
      if (schedule.last_pipeline_run_id !== null) {
        last.appendChild(
          el('div', undefined, `run ${schedule.last_pipeline_run_id}`)
        );
      }
    }
    if (schedule.last_error) {
      last.appendChild(el('div', 'ainb-schedule-note', schedule.last_error));
    }
    const actions = el('td');
    if (this.canEdit) {
      const remove = iconButton(
        'ainb-schedule-delete',
        'Delete this schedule',
        deleteIcon
      );
      remove.addEventListener('click', () => void this.remove(schedule));
      actions.appendChild(remove);
    }
    tr.append(cron, target, toggle, next, last, actions);
    this.switches.push([on, toggle]);
    return tr;
  }

  private target(schedule: ISchedule): string {
    if (schedule.target === 'pipeline') {
      return 'whole pipeline';
    }
    const block = this.blocks.find(b => b.id === schedule.block_id);
    const code = block ? `: ${firstLine(block.source, 30)}` : '';
    return `block ${schedule.block_id}${code}`;
  }

  private buildForm(): HTMLFormElement {
    const form = el('form', 'ainb-schedule-form');
    this.cron.className = 'ainb-schedule-cron-input jp-mod-styled';
    this.cron.placeholder = '0 3 * * *  (min hour day month weekday [sec])';
    this.cron.setAttribute('aria-label', 'Cron');
    this.targetSelect.className = 'ainb-schedule-target jp-mod-styled';
    for (const [value, label] of [
      ['pipeline', 'whole pipeline'],
      ['block', 'one block']
    ]) {
      const option = el('option', undefined, label);
      option.value = value;
      this.targetSelect.appendChild(option);
    }
    this.blockSelect.className = 'ainb-schedule-block jp-mod-styled';
    this.blockSelect.hidden = true;
    this.targetSelect.addEventListener('change', () => {
      this.blockSelect.hidden = this.targetSelect.value !== 'block';
    });
    this.zone.className = 'ainb-schedule-tz jp-mod-styled';
    this.zone.value = localZone();
    this.zone.setAttribute('aria-label', 'Time zone');
    const add = el(
      'button',
      'ainb-schedule-add jp-Button jp-mod-styled jp-mod-accept',
      'Add schedule'
    );
    add.type = 'submit';
    this.error.className = 'ainb-schedule-error ainb-error';
    form.append(
      el('h4', undefined, 'New schedule'),
      this.cron,
      this.targetSelect,
      this.blockSelect,
      this.zone,
      add,
      this.error
    );
    form.addEventListener('submit', event => {
      event.preventDefault();
      void this.add();
    });
    return form;
  }

  private fillBlocks(): void {
    const chosen = this.blockSelect.value;
    this.blockSelect.textContent = '';
    for (const block of this.blocks) {
      const option = el(
        'option',
        undefined,
        `block ${block.id}: ${firstLine(block.source, 40)}`
      );
      option.value = String(block.id);
      this.blockSelect.appendChild(option);
    }
    if (chosen) {
      this.blockSelect.value = chosen;
    }
  }

  private async add(): Promise<void> {
    const target = this.targetSelect.value as ScheduleTarget;
    const body: IScheduleCreate = {
      cron: this.cron.value,
      target,
      timezone: this.zone.value.trim() || 'UTC'
    };
    if (target === 'block') {
      body.block_id = Number(this.blockSelect.value);
    }
    this.error.textContent = '';
    try {
      await createSchedule(this.api, this.projectId, body);
      this.cron.value = '';
      await this.refresh();
    } catch (err) {
      this.error.textContent = errorMessage(err);
    }
  }

  private async change(
    schedule: ISchedule,
    body: { enabled: boolean }
  ): Promise<void> {
    this.error.textContent = '';
    try {
      await updateSchedule(this.api, this.projectId, schedule.id, body);
    } catch (err) {
      this.error.textContent = errorMessage(err);
    }
    await this.refresh();
  }

  private async remove(schedule: ISchedule): Promise<void> {
    const answer = await showDialog({
      title: 'Delete schedule',
      body: `Delete the schedule “${schedule.cron}”? Its past runs stay.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await deleteSchedule(this.api, this.projectId, schedule.id);
    } catch (err) {
      this.error.textContent = errorMessage(err);
    }
    await this.refresh();
  }

  private readonly list: HTMLDivElement;
  private readonly form: HTMLFormElement;
  private readonly cron = el('input');
  private readonly targetSelect = el('select');
  private readonly blockSelect = el('select');
  private readonly zone = el('input');
  private readonly error = el('div');
  private schedules: ISchedule[] = [];
  private blocks: IBlock[] = [];
  private switches: Array<[Switch, HTMLElement]> = [];
  private timer = 0;
}

/** The schedules of a project in a main-area tab. */
export function schedulesWidget(
  view: ScheduleView
): MainAreaWidget<ScheduleView> {
  const widget = new MainAreaWidget({ content: view });
  widget.id = `ainb-schedules-${view.projectId}`;
  widget.title.label = view.title.label;
  widget.title.closable = true;
  view.title.changed.connect(() => {
    widget.title.label = view.title.label;
  });
  return widget;
}
