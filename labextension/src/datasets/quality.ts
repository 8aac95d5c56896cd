/**
 * Quality rules of a dataset with the latest result of each on the version
 * shown: passed or the failing row count, the message and sample values or
 * rows; rules added, edited (in a form per kind) and removed by editors;
 * "Check again" runs every rule on the version now.
 *
 * Selectors: .ainb-ds-quality, .ainb-ds-rule[data-rule-id][data-passed],
 * .ainb-ds-rule-failing, .ainb-ds-sample, button.ainb-ds-rule-add,
 * button.ainb-ds-rule-edit, button.ainb-ds-rule-delete, button.ainb-ds-check.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';

import { el, errorMessage } from '../dom';
import type {
  DatasetsClient,
  IQuality,
  IRule,
  IRuleResult,
  IVersion
} from './client';
import { formatCount, formatWhen } from './format';
import { RuleForm, describeRule } from './ruleform';

function cellText(v: unknown): string {
  return v === null || v === undefined
    ? 'null'
    : typeof v === 'string'
      ? v
      : JSON.stringify(v);
}

function sampleTable(sample: unknown[]): HTMLElement {
  const rows = sample.filter(s => s !== null && typeof s === 'object') as Array<
    Record<string, unknown>
  >;
  if (rows.length !== sample.length || !rows.length) {
    return el(
      'div',
      'ainb-ds-sample',
      `e.g. ${sample.map(cellText).join(', ')}`
    );
  }
  const box = el('div', 'ainb-ds-sample-box');
  const table = el('table', 'ainb-ds-sample');
  box.appendChild(table);
  const names = Object.keys(rows[0]);
  const head = el('tr');
  names.forEach(n => head.appendChild(el('th', '', n)));
  table.createTHead().appendChild(head);
  const body = table.createTBody();
  for (const row of rows) {
    const tr = el('tr');
    names.forEach(n => tr.appendChild(el('td', '', cellText(row[n]))));
    body.appendChild(tr);
  }
  return box;
}

function resultLine(result: IRuleResult | undefined): HTMLElement {
  const box = el('div', 'ainb-ds-rule-result');
  if (!result) {
    box.appendChild(el('span', 'ainb-ds-badge', 'not checked on this version'));
    return box;
  }
  if (result.passed) {
    box.appendChild(el('span', 'ainb-ds-badge ainb-ds-pass', 'passes'));
    return box;
  }
  const failing =
    result.failing_rows === null
      ? 'could not run'
      : `${formatCount(result.failing_rows)} failing`;
  box.append(
    el('span', 'ainb-ds-badge ainb-ds-fail ainb-ds-rule-failing', failing),
    el('span', 'ainb-ds-rule-message', result.message)
  );
  if (result.sample && result.sample.length) {
    box.appendChild(sampleTable(result.sample));
  }
  return box;
}

export class QualityView {
  readonly node = el('div', 'ainb-ds-quality');
  private editing: IRule | 'new' | null = null;
  private editor: { key: number | 'new'; node: HTMLElement } | null = null;

  constructor(
    private readonly client: DatasetsClient,
    /** The version's checks changed (re-checked or a rule changed). */
    private readonly changed: () => void
  ) {}

  async show(
    datasetId: number,
    version: IVersion | null,
    canEdit: boolean
  ): Promise<void> {
    if (datasetId !== this.datasetId) {
      this.edit(null, false);
    }
    const mine = this.version;
    if (
      version &&
      mine?.quality &&
      version.id === mine.id &&
      (!version.quality || version.quality.created_at < mine.quality.created_at)
    ) {
      // A refresh read before our last check was stored: keep the newer result.
      version = { ...version, quality: mine.quality };
    }
    this.datasetId = datasetId;
    this.version = version;
    this.canEdit = canEdit;
    const token = ++this._token;
    try {
      const rules = await this.client.rules(datasetId);
      if (token === this._token) {
        this.rules = rules;
        this.render();
      }
    } catch (err) {
      this.node.replaceChildren(el('div', 'ainb-ds-error', errorMessage(err)));
    }
  }

  /** Opens the form for a rule or a new one (null closes it). */
  private edit(editing: IRule | 'new' | null, draw = true): void {
    this.editing = editing;
    this.editor = null;
    if (draw) {
      this.render();
    }
  }

  /**
   * Draws the rules; an open form survives redraws (a refresh from the panel or a
   * re-check), so what the user typed there stays.
   */
  private render(): void {
    const editing = this.editing;
    const q: IQuality | null | undefined = this.version?.quality;
    const results = new Map<number, IRuleResult>();
    for (const r of q?.results ?? []) {
      if (r.rule_id !== null) {
        results.set(r.rule_id, r);
      }
    }
    const bar = el('div', 'ainb-ds-quality-bar');
    const summary = !this.rules.length
      ? 'No rules yet: add one to check every new version.'
      : q
        ? `${q.passed ? 'All checks pass' : `${q.results.filter(r => !r.passed).length} of ${q.results.length} checks fail`} on v${this.version?.number} (checked ${formatWhen(q.created_at)})`
        : `v${this.version?.number ?? '?'} not checked yet`;
    bar.appendChild(el('span', 'ainb-ds-quality-summary', summary));
    if (this.canEdit && this.version) {
      const check = el(
        'button',
        'ainb-ds-check jp-mod-styled jp-Button',
        'Check again'
      );
      check.type = 'button';
      check.disabled = !this.rules.length;
      check.addEventListener('click', () => void this.checkAgain(check));
      const add = el(
        'button',
        'ainb-ds-rule-add jp-mod-styled jp-Button',
        '+ Rule'
      );
      add.type = 'button';
      add.addEventListener('click', () => this.edit('new'));
      bar.append(add, check);
    }
    const list = el('div', 'ainb-ds-rules');
    if (editing === 'new') {
      list.appendChild(this.formNode(null));
    }
    for (const rule of this.rules) {
      if (editing !== 'new' && editing?.id === rule.id) {
        list.appendChild(this.formNode(rule));
        continue;
      }
      const result = results.get(rule.id);
      const row = el('div', 'ainb-ds-rule');
      row.dataset.ruleId = String(rule.id);
      row.dataset.kind = rule.kind;
      if (result) {
        row.dataset.passed = String(result.passed);
      }
      const head = el('div', 'ainb-ds-rule-line');
      head.append(
        el('span', 'ainb-ds-rule-kind-label', rule.kind.replace('_', ' ')),
        el('code', 'ainb-ds-rule-text', describeRule(rule))
      );
      if (this.canEdit) {
        const edit = el(
          'button',
          'ainb-ds-rule-edit jp-mod-styled jp-Button',
          'Edit'
        );
        edit.type = 'button';
        edit.addEventListener('click', () => this.edit(rule));
        const del = el(
          'button',
          'ainb-ds-rule-delete jp-mod-styled jp-Button',
          'Remove'
        );
        del.type = 'button';
        del.addEventListener('click', () => void this.remove(rule));
        head.append(edit, del);
      }
      row.append(head, resultLine(result));
      list.appendChild(row);
    }
    this.node.replaceChildren(bar, list);
  }

  private formNode(rule: IRule | null): HTMLElement {
    const key = rule ? rule.id : 'new';
    if (this.editor?.key !== key) {
      this.editor = { key, node: this.form(rule) };
    }
    return this.editor.node;
  }

  private form(rule: IRule | null): HTMLElement {
    const form = new RuleForm(
      this.version?.columns ?? [],
      rule,
      async value => {
        const saved = rule
          ? await this.client.updateRule(this.datasetId, rule.id, value)
          : await this.client.addRule(this.datasetId, value);
        this.rules = rule
          ? this.rules.map(r => (r.id === saved.id ? saved : r))
          : [...this.rules, saved];
        this.edit(null);
        // Check the shown version at once, so the new rule has a result.
        if (this.version) {
          await this.checkAgain(null);
        }
      },
      () => this.edit(null)
    );
    return form.node;
  }

  private async checkAgain(button: HTMLButtonElement | null): Promise<void> {
    if (!this.version) {
      return;
    }
    if (button) {
      button.disabled = true;
      button.textContent = 'Checking…';
    }
    try {
      const quality = await this.client.check(
        this.datasetId,
        this.version.number
      );
      this.version = { ...this.version, quality };
      this.render();
      this.changed();
    } catch (err) {
      this.node.appendChild(el('div', 'ainb-ds-error', errorMessage(err)));
      if (button) {
        button.disabled = false;
        button.textContent = 'Check again';
      }
    }
  }

  private async remove(rule: IRule): Promise<void> {
    const answer = await showDialog({
      title: 'Remove this rule?',
      body: describeRule(rule),
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Remove' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await this.client.removeRule(this.datasetId, rule.id);
      this.rules = this.rules.filter(r => r.id !== rule.id);
      this.render();
    } catch (err) {
      this.node.appendChild(el('div', 'ainb-ds-error', errorMessage(err)));
    }
  }

  private datasetId = 0;
  private version: IVersion | null = null;
  private canEdit = false;
  private rules: IRule[] = [];
  private _token = 0;
}
