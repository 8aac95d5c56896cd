/**
 * A dataset's versions: number, who and when, size, rows, columns, status and
 * quality; a click picks the version the other tabs show. Below, the schema
 * diff between two chosen versions, and deleting a version (confirmed).
 *
 * Selectors: table.ainb-ds-versions, tr.ainb-ds-version[data-version],
 * select.ainb-ds-diff-base, select.ainb-ds-diff-other, .ainb-ds-diff,
 * button.ainb-ds-version-delete.
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';

import { deleteIcon } from '@jupyterlab/ui-components';

import { el, errorMessage, iconButton } from '../dom';
import type { DatasetsClient, ISchemaDiff, IVersion } from './client';
import { formatBytes, formatCount, formatWhen } from './format';

export interface IVersionsOptions {
  /** A version was picked. */
  select(version: IVersion): void;
  /** A version was deleted. */
  deleted(): void;
}

function qualityBadge(v: IVersion): HTMLElement {
  if (v.status !== 'ready') {
    const b = el('span', `ainb-ds-badge ainb-ds-${v.status}`, v.status);
    b.title = v.problem || v.status;
    return b;
  }
  if (!v.quality) {
    return el('span', 'ainb-ds-badge', 'no rules');
  }
  const failed = v.quality.results.filter(r => !r.passed).length;
  return el(
    'span',
    `ainb-ds-badge ${failed ? 'ainb-ds-fail' : 'ainb-ds-pass'}`,
    failed ? `${failed} failing` : 'checks pass'
  );
}

export class VersionsView {
  readonly node = el('div', 'ainb-ds-versions-view');

  constructor(
    private readonly client: DatasetsClient,
    private readonly options: IVersionsOptions
  ) {}

  /** Show the versions of a dataset, `current` highlighted. */
  render(
    datasetId: number,
    versions: IVersion[],
    current: number | null,
    canEdit: boolean
  ): void {
    this.datasetId = datasetId;
    const table = el('table', 'ainb-ds-versions');
    const head = el('tr');
    for (const h of [
      '',
      'by',
      'when',
      'size',
      'rows',
      'columns',
      'source',
      'quality',
      ''
    ]) {
      head.appendChild(el('th', '', h));
    }
    table.createTHead().appendChild(head);
    const body = table.createTBody();
    for (const v of versions) {
      const tr = el('tr', 'ainb-ds-version');
      tr.dataset.version = String(v.number);
      tr.classList.toggle('ainb-mod-current', v.number === current);
      tr.title = `${v.filename || '(no file name)'} · ${v.format} · sha256 ${v.blob.slice(0, 12)}…`;
      const del = el('td');
      if (canEdit) {
        const button = iconButton(
          'ainb-ds-version-delete',
          `Delete version ${v.number}`,
          deleteIcon
        );
        button.addEventListener('click', ev => {
          ev.stopPropagation();
          void this.remove(v.number);
        });
        del.appendChild(button);
      }
      const quality = el('td');
      quality.appendChild(qualityBadge(v));
      tr.append(
        el('td', 'ainb-ds-vnum', `v${v.number}`),
        el('td', '', v.created_by ?? '–'),
        el('td', '', formatWhen(v.created_at)),
        el('td', 'ainb-ds-num', formatBytes(v.size)),
        el('td', 'ainb-ds-num', formatCount(v.row_count)),
        el('td', 'ainb-ds-num', String(v.columns.length)),
        el('td', '', v.source),
        quality,
        del
      );
      tr.addEventListener('click', () => {
        for (const row of body.querySelectorAll('tr')) {
          row.classList.toggle('ainb-mod-current', row === tr);
        }
        this.options.select(v);
      });
      body.appendChild(tr);
    }
    this.node.replaceChildren(table, this.diffControls(versions));
  }

  private diffControls(versions: IVersion[]): HTMLElement {
    const box = el('div', 'ainb-ds-diff-box');
    if (versions.length < 2) {
      box.appendChild(
        el('div', 'ainb-ds-empty', 'One version so far: nothing to compare.')
      );
      return box;
    }
    const pick = (className: string, selected: number) => {
      const s = el('select', `${className} jp-mod-styled`);
      for (const v of versions) {
        const o = el('option', '', `v${v.number}`);
        o.value = String(v.number);
        o.selected = v.number === selected;
        s.appendChild(o);
      }
      return s;
    };
    const base = pick('ainb-ds-diff-base', versions[1].number);
    const other = pick('ainb-ds-diff-other', versions[0].number);
    const out = el('div', 'ainb-ds-diff');
    const load = async () => {
      out.replaceChildren(el('span', 'ainb-ds-loading', 'Comparing…'));
      try {
        const d = await this.client.diff(
          this.datasetId,
          Number(base.value),
          Number(other.value)
        );
        out.replaceChildren(...diffLines(d));
      } catch (err) {
        out.replaceChildren(el('span', 'ainb-ds-error', errorMessage(err)));
      }
    };
    base.addEventListener('change', () => void load());
    other.addEventListener('change', () => void load());
    const line = el('div', 'ainb-ds-diff-pick');
    line.append(
      el('span', '', 'Schema changes from '),
      base,
      el('span', '', ' to '),
      other
    );
    box.append(line, out);
    void load();
    return box;
  }

  private async remove(n: number): Promise<void> {
    const answer = await showDialog({
      title: `Delete version ${n}?`,
      body: 'Its file is removed when no other version uses it. Runs that read it keep their record.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await this.client.removeVersion(this.datasetId, n);
      this.options.deleted();
    } catch (err) {
      void showDialog({
        title: 'Not deleted',
        body: errorMessage(err),
        buttons: [Dialog.okButton()]
      });
    }
  }

  private datasetId = 0;
}

/** The lines of a schema diff: +added, −removed, ~retyped, rows. */
export function diffLines(d: ISchemaDiff): HTMLElement[] {
  const lines: HTMLElement[] = [];
  for (const c of d.added) {
    lines.push(el('div', 'ainb-ds-diff-added', `+ ${c.name}  ${c.type}`));
  }
  for (const c of d.removed) {
    lines.push(el('div', 'ainb-ds-diff-removed', `− ${c.name}  ${c.type}`));
  }
  for (const c of d.changed) {
    lines.push(
      el('div', 'ainb-ds-diff-changed', `~ ${c.name}  ${c.before} → ${c.after}`)
    );
  }
  if (!lines.length) {
    lines.push(el('div', 'ainb-ds-diff-same', 'Same columns and types.'));
  }
  if (d.row_count_change !== null) {
    const n = d.row_count_change;
    lines.push(
      el(
        'div',
        'ainb-ds-diff-rows',
        `rows ${n > 0 ? '+' : n < 0 ? '−' : '±'}${formatCount(Math.abs(n))}`
      )
    );
  }
  return lines;
}
