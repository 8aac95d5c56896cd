/**
 * The form of one quality rule, its fields following the kind: a column for
 * column rules, min/max for ranges and row counts, a list of allowed values, a
 * pattern, or a SQL predicate with named parameters (`$name`, bound by the
 * server, never pasted into the SQL).
 *
 * Selectors: form.ainb-ds-rule-form, select.ainb-ds-rule-kind,
 * select.ainb-ds-rule-column, input[name=min|max|pattern],
 * textarea[name=values|predicate], .ainb-ds-param (input[name=param-name],
 * input[name=param-value]), button.ainb-ds-param-add, button.ainb-ds-rule-save.
 */
import { el } from '../dom';
import type { IColumn, IRule, IRuleIn, RuleKind } from './client';

export const KINDS: Array<[RuleKind, string]> = [
  ['not_null', 'not null'],
  ['unique', 'unique'],
  ['range', 'in a range'],
  ['allowed_values', 'allowed values'],
  ['regex', 'matches a pattern'],
  ['row_count', 'row count'],
  ['sql', 'SQL predicate']
];
const WITH_COLUMN = new Set<RuleKind>([
  'not_null',
  'unique',
  'range',
  'allowed_values',
  'regex'
]);

/** Text typed in a field as a JSON value: 3 -> 3, true -> true, abc -> "abc". */
export function parseValue(text: string): unknown {
  const t = text.trim();
  try {
    const v = JSON.parse(t) as unknown;
    if (v === null || ['number', 'boolean', 'string'].includes(typeof v)) {
      return v;
    }
  } catch {
    // plain text
  }
  return t;
}

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** A rule in words: "age in [0, 120]". */
export function describeRule(r: IRuleIn): string {
  const p = r.params;
  const col = r.column ?? '';
  switch (r.kind) {
    case 'not_null':
      return `${col} is never null`;
    case 'unique':
      return `${col} is unique`;
    case 'range':
    case 'row_count': {
      const what = r.kind === 'range' ? col : 'row count';
      const lo = p.min !== undefined ? `≥ ${show(p.min)}` : '';
      const hi = p.max !== undefined ? `≤ ${show(p.max)}` : '';
      return `${what} ${[lo, hi].filter(Boolean).join(' and ')}`;
    }
    case 'allowed_values':
      return `${col} in {${((p.values as unknown[]) ?? []).map(show).join(', ')}}`;
    case 'regex':
      return `${col} matches /${show(p.pattern)}/`;
    case 'sql': {
      const params = Object.entries(
        (p.params as Record<string, unknown>) ?? {}
      );
      const bound = params.length
        ? `  with ${params.map(([k, v]) => `$${k} = ${show(v)}`).join(', ')}`
        : '';
      return `${show(p.predicate)}${bound}`;
    }
  }
  return r.kind;
}

export class RuleForm {
  readonly node = el('form', 'ainb-ds-rule-form');

  constructor(
    columns: IColumn[],
    rule: IRule | null,
    private readonly save: (rule: IRuleIn) => Promise<void>,
    cancel: () => void
  ) {
    this.kind = el('select', 'ainb-ds-rule-kind jp-mod-styled');
    for (const [k, label] of KINDS) {
      const o = el('option', '', label);
      o.value = k;
      this.kind.appendChild(o);
    }
    this.column = el('select', 'ainb-ds-rule-column jp-mod-styled');
    for (const c of columns) {
      const o = el('option', '', `${c.name} (${c.type})`);
      o.value = c.name;
      this.column.appendChild(o);
    }
    this.fields = el('div', 'ainb-ds-rule-fields');
    this.error = el('div', 'ainb-ds-error');
    const saveButton = el(
      'button',
      'ainb-ds-rule-save jp-mod-styled jp-Button jp-mod-accept',
      rule ? 'Save rule' : 'Add rule'
    );
    saveButton.type = 'submit';
    const cancelButton = el(
      'button',
      'ainb-ds-rule-cancel jp-mod-styled jp-Button',
      'Cancel'
    );
    cancelButton.type = 'button';
    cancelButton.addEventListener('click', cancel);
    const head = el('div', 'ainb-ds-rule-head');
    head.append(this.kind, this.column);
    const actions = el('div', 'ainb-ds-rule-actions');
    actions.append(saveButton, cancelButton);
    this.node.append(head, this.fields, this.error, actions);

    if (rule) {
      this.kind.value = rule.kind;
      if (rule.column) {
        this.column.value = rule.column;
      }
    }
    this.kind.addEventListener('change', () => this.layout(null));
    this.layout(rule);
    this.node.addEventListener('submit', ev => {
      ev.preventDefault();
      void this.submit();
    });
  }

  private input(
    name: string,
    label: string,
    value: unknown,
    type = 'text'
  ): HTMLElement {
    const wrap = el('label', 'ainb-ds-field', label);
    const input = el('input', 'jp-mod-styled');
    input.name = name;
    input.type = type;
    if (type === 'number') {
      input.step = 'any';
    }
    input.value = value === undefined ? '' : show(value);
    wrap.appendChild(input);
    return wrap;
  }

  private area(
    name: string,
    label: string,
    value: string,
    placeholder: string
  ): HTMLElement {
    const wrap = el('label', 'ainb-ds-field', label);
    const area = el('textarea', 'jp-mod-styled');
    area.name = name;
    area.rows = 2;
    area.value = value;
    area.placeholder = placeholder;
    wrap.appendChild(area);
    return wrap;
  }

  private param(name = '', value: unknown = ''): HTMLElement {
    const row = el('div', 'ainb-ds-param');
    const n = el('input', 'jp-mod-styled');
    n.name = 'param-name';
    n.placeholder = 'name';
    n.value = name;
    const v = el('input', 'jp-mod-styled');
    v.name = 'param-value';
    v.placeholder = 'value';
    v.value = value === '' ? '' : show(value);
    const drop = el('button', 'jp-mod-styled jp-Button', '✕');
    drop.type = 'button';
    drop.title = 'Remove this parameter';
    drop.addEventListener('click', () => row.remove());
    row.append(el('span', '', '$'), n, el('span', '', '='), v, drop);
    return row;
  }

  private layout(rule: IRule | null): void {
    const kind = this.kind.value as RuleKind;
    const p = rule?.params ?? {};
    this.column.hidden = !WITH_COLUMN.has(kind);
    const f: HTMLElement[] = [];
    if (kind === 'range' || kind === 'row_count') {
      f.push(
        this.input('min', 'min', p.min, 'number'),
        this.input('max', 'max', p.max, 'number')
      );
    } else if (kind === 'allowed_values') {
      const values = ((p.values as unknown[]) ?? []).map(show).join(', ');
      f.push(
        this.area(
          'values',
          'allowed values (comma separated)',
          values,
          'a, b, 3'
        )
      );
    } else if (kind === 'regex') {
      f.push(this.input('pattern', 'pattern (regular expression)', p.pattern));
    } else if (kind === 'sql') {
      f.push(
        this.area(
          'predicate',
          'true for every good row (DuckDB SQL; $name for a parameter)',
          String(p.predicate ?? ''),
          'price > 0 AND price < $cap'
        )
      );
      const params = el('div', 'ainb-ds-params');
      for (const [k, v] of Object.entries(
        (p.params as Record<string, unknown>) ?? {}
      )) {
        params.appendChild(this.param(k, v));
      }
      const add = el(
        'button',
        'ainb-ds-param-add jp-mod-styled jp-Button',
        '+ parameter'
      );
      add.type = 'button';
      add.addEventListener('click', () => params.appendChild(this.param()));
      f.push(params, add);
    }
    this.fields.replaceChildren(...f);
  }

  /** The rule the form describes (the server validates it). */
  value(): IRuleIn {
    const kind = this.kind.value as RuleKind;
    const field = (name: string) =>
      (
        this.node.querySelector(`[name="${name}"]`) as HTMLInputElement | null
      )?.value.trim() ?? '';
    const params: Record<string, unknown> = {};
    if (kind === 'range' || kind === 'row_count') {
      for (const key of ['min', 'max']) {
        if (field(key) !== '') {
          params[key] = Number(field(key));
        }
      }
    } else if (kind === 'allowed_values') {
      params.values = field('values')
        .split(',')
        .filter(s => s.trim() !== '')
        .map(parseValue);
    } else if (kind === 'regex') {
      params.pattern = field('pattern');
    } else if (kind === 'sql') {
      params.predicate = field('predicate');
      const bound: Record<string, unknown> = {};
      for (const row of this.node.querySelectorAll('.ainb-ds-param')) {
        const [n, v] = Array.from(row.querySelectorAll('input')).map(i =>
          i.value.trim()
        );
        if (n) {
          bound[n.replace(/^\$/, '')] = parseValue(v);
        }
      }
      params.params = bound;
    }
    return {
      kind,
      column: WITH_COLUMN.has(kind) ? this.column.value : null,
      params
    };
  }

  private async submit(): Promise<void> {
    this.error.textContent = '';
    try {
      await this.save(this.value());
    } catch (err) {
      this.error.textContent = err instanceof Error ? err.message : String(err);
    }
  }

  private readonly kind: HTMLSelectElement;
  private readonly column: HTMLSelectElement;
  private readonly fields: HTMLDivElement;
  private readonly error: HTMLDivElement;
}
