/**
 * The quick profile of a version, one card per column: type, nulls, distinct
 * values; numbers with min/max/mean/quartiles and a histogram; text and
 * booleans with their top values as bars; dates as a range. The dataset's row
 * count and duplicate rows on top.
 *
 * Selectors: .ainb-ds-profile, .ainb-ds-col[data-column], .ainb-ds-hist,
 * .ainb-ds-top, .ainb-ds-duplicates.
 */
import { el, errorMessage } from '../dom';
import { histogram, quartileStrip, short, topValues } from './charts';
import type { DatasetsClient, IColumnProfile, IProfile } from './client';
import { formatCount } from './format';

function stat(label: string, value: string, className = ''): HTMLElement {
  const node = el('div', `ainb-ds-stat ${className}`.trim());
  node.append(
    el('span', 'ainb-ds-stat-label', label),
    el('span', 'ainb-ds-stat-value', value)
  );
  return node;
}

function pct(part: number, whole: number): string {
  return whole ? `${((100 * part) / whole).toFixed(1)}%` : '0%';
}

function when(v: number | string | undefined): string {
  if (typeof v !== 'string') {
    return short(v);
  }
  const d = new Date(v);
  return Number.isNaN(d.getTime()) || !v.includes('T')
    ? v
    : v.replace('T', ' ');
}

/** One column's card. */
export function columnCard(col: IColumnProfile, rows: number): HTMLElement {
  const card = el('section', `ainb-ds-col ainb-ds-kind-${col.kind}`);
  card.dataset.column = col.name;
  const head = el('header', 'ainb-ds-col-head');
  head.append(
    el('span', 'ainb-ds-col-name', col.name),
    el('span', 'ainb-ds-col-type', col.type)
  );
  card.appendChild(head);

  const stats = el('div', 'ainb-ds-stats');
  stats.append(
    stat(
      'nulls',
      `${formatCount(col.nulls)} (${pct(col.nulls, rows)})`,
      col.nulls ? 'ainb-ds-has-nulls' : ''
    ),
    stat(
      'distinct',
      `${formatCount(col.distinct)} (${pct(col.distinct, rows)})`
    )
  );
  if (col.kind === 'numeric' && col.min !== undefined) {
    stats.append(
      stat('min', short(col.min)),
      stat('max', short(col.max)),
      stat('mean', short(col.mean)),
      stat('std', short(col.std)),
      stat(
        'Q1 · median · Q3',
        `${short(col.p25)} · ${short(col.p50)} · ${short(col.p75)}`
      )
    );
  } else if (col.kind === 'datetime' && col.min !== undefined) {
    stats.append(stat('from', when(col.min)), stat('to', when(col.max)));
  } else if (col.kind === 'text' && col.min_length !== undefined) {
    stats.append(stat('length', `${col.min_length} – ${col.max_length}`));
  }
  card.appendChild(stats);

  const chart = el('div', 'ainb-ds-chart');
  if (col.histogram && col.histogram.counts.length) {
    chart.appendChild(histogram(col.histogram));
    const { min, p25, p50, p75, max } = col;
    if (
      typeof min === 'number' &&
      typeof max === 'number' &&
      p25 !== undefined &&
      p50 !== undefined &&
      p75 !== undefined
    ) {
      chart.appendChild(quartileStrip(min, p25, p50, p75, max));
    }
  } else if (col.top && col.top.length) {
    chart.appendChild(topValues(col.top, col.count));
    if (col.distinct > col.top.length) {
      chart.appendChild(
        el(
          'div',
          'ainb-ds-more',
          `+ ${formatCount(col.distinct - col.top.length)} other values`
        )
      );
    }
  } else if (col.kind === 'datetime' && col.min !== undefined) {
    const range = el('div', 'ainb-ds-range');
    range.append(
      el('span', '', when(col.min)),
      el('span', 'ainb-ds-range-line'),
      el('span', '', when(col.max))
    );
    chart.appendChild(range);
  } else if (!col.count) {
    chart.appendChild(el('div', 'ainb-ds-more', 'every value is null'));
  }
  card.appendChild(chart);
  return card;
}

/** The profile tab's content; `show()` loads a version's profile. */
export class ProfileView {
  readonly node = el('div', 'ainb-ds-profile');

  constructor(private readonly client: DatasetsClient) {}

  async show(datasetId: number, version: number): Promise<void> {
    const token = ++this._token;
    this.node.replaceChildren(el('div', 'ainb-ds-loading', 'Profiling…'));
    let profile: IProfile;
    try {
      profile = await this.client.profile(datasetId, version);
    } catch (err) {
      if (token === this._token) {
        this.node.replaceChildren(
          el('div', 'ainb-ds-error', `No profile: ${errorMessage(err)}`)
        );
      }
      return;
    }
    if (token !== this._token) {
      return;
    }
    this.render(profile);
  }

  clear(message = ''): void {
    this._token++;
    this.node.replaceChildren(
      message ? el('div', 'ainb-ds-empty', message) : ''
    );
  }

  private render(p: IProfile): void {
    const summary = el('div', 'ainb-ds-summary');
    summary.append(
      stat('rows', formatCount(p.row_count)),
      stat('columns', formatCount(p.column_count)),
      stat(
        'duplicate rows',
        `${formatCount(p.duplicate_rows)} (${pct(p.duplicate_rows, p.row_count)})`,
        `ainb-ds-duplicates${p.duplicate_rows ? ' ainb-ds-has-nulls' : ''}`
      )
    );
    const grid = el('div', 'ainb-ds-cols');
    for (const col of p.columns) {
      grid.appendChild(columnCard(col, p.row_count));
    }
    this.node.replaceChildren(summary, grid);
  }

  private _token = 0;
}
