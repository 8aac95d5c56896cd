/**
 * Small SVG charts of a column profile: a histogram of a numeric column and
 * horizontal bars of the most frequent values. Drawn with plain SVG elements
 * (no chart library); text through textContent only.
 */
import type { IHistogram } from './client';

const SVG = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {}
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  return node;
}

/** A number in a few characters: 1234567 -> 1.23M, 0.000123 -> 1.23e-4. */
export function short(v: number | string | null | undefined): string {
  if (v === null || v === undefined) {
    return '–';
  }
  if (typeof v === 'string') {
    return v;
  }
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e15)) {
    return v.toExponential(2);
  }
  for (const [div, unit] of [
    [1e12, 'T'],
    [1e9, 'B'],
    [1e6, 'M'],
    [1e4, 'k']
  ] as Array<[number, string]>) {
    if (a >= div) {
      return `${+(v / div).toFixed(2)}${unit}`;
    }
  }
  return Number.isInteger(v) ? String(v) : String(+v.toPrecision(4));
}

/** A histogram: one bar per bin, the bin's range and count as tooltips. */
export function histogram(
  data: IHistogram,
  width = 260,
  height = 90
): SVGSVGElement {
  const pad = { top: 4, bottom: 16, left: 2, right: 2 };
  const root = svg('svg', {
    class: 'ainb-ds-hist',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`,
    role: 'img'
  });
  const counts = data.counts;
  const max = Math.max(1, ...counts);
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const barW = counts.length ? plotW / counts.length : plotW;
  counts.forEach((count, i) => {
    const h = count ? Math.max(1, (count / max) * plotH) : 0;
    const bar = svg('rect', {
      class: 'ainb-ds-bar',
      x: pad.left + i * barW + 1,
      y: pad.top + plotH - h,
      width: Math.max(1, barW - 2),
      height: h,
      'data-count': count
    });
    const lo = data.edges[i];
    const hi = data.edges[i + 1] ?? lo;
    const title = svg('title');
    title.textContent = `${short(lo)} – ${short(hi)}: ${count.toLocaleString('en-US')}`;
    bar.appendChild(title);
    root.appendChild(bar);
  });
  root.appendChild(
    svg('line', {
      class: 'ainb-ds-axis',
      x1: pad.left,
      x2: width - pad.right,
      y1: pad.top + plotH + 0.5,
      y2: pad.top + plotH + 0.5
    })
  );
  const label = (x: number, anchor: string, text: string) => {
    const t = svg('text', {
      class: 'ainb-ds-tick',
      x,
      y: height - 3,
      'text-anchor': anchor
    });
    t.textContent = text;
    root.appendChild(t);
  };
  if (data.edges.length) {
    label(pad.left, 'start', short(data.edges[0]));
    label(width - pad.right, 'end', short(data.edges[data.edges.length - 1]));
  }
  root.setAttribute(
    'aria-label',
    `histogram of ${counts.length} bins, largest ${max.toLocaleString('en-US')}`
  );
  return root;
}

/** The most frequent values as horizontal bars with their counts. */
export function topValues(
  top: Array<{ value: string; count: number }>,
  total: number
): HTMLElement {
  const list = document.createElement('div');
  list.className = 'ainb-ds-top';
  const max = Math.max(1, ...top.map(t => t.count));
  for (const { value, count } of top) {
    const row = document.createElement('div');
    row.className = 'ainb-ds-top-row';
    const name = document.createElement('span');
    name.className = 'ainb-ds-top-value';
    name.textContent = value === '' ? '(empty)' : value;
    name.title = value;
    const track = document.createElement('span');
    track.className = 'ainb-ds-top-track';
    const fill = document.createElement('span');
    fill.className = 'ainb-ds-top-fill';
    fill.style.width = `${(100 * count) / max}%`;
    track.appendChild(fill);
    const n = document.createElement('span');
    n.className = 'ainb-ds-top-count';
    const pct = total ? ` (${((100 * count) / total).toFixed(1)}%)` : '';
    n.textContent = `${count.toLocaleString('en-US')}${pct}`;
    row.append(name, track, n);
    list.appendChild(row);
  }
  return list;
}

/** A box-plot strip of min, quartiles and max over the column's range. */
export function quartileStrip(
  min: number,
  p25: number,
  p50: number,
  p75: number,
  max: number,
  width = 260
): SVGSVGElement {
  const height = 18;
  const root = svg('svg', {
    class: 'ainb-ds-box',
    width,
    height,
    viewBox: `0 0 ${width} ${height}`
  });
  const span = max - min || 1;
  const x = (v: number) => 2 + ((v - min) / span) * (width - 4);
  root.appendChild(
    svg('line', {
      class: 'ainb-ds-whisker',
      x1: x(min),
      x2: x(max),
      y1: 9,
      y2: 9
    })
  );
  root.appendChild(
    svg('rect', {
      class: 'ainb-ds-iqr',
      x: x(p25),
      y: 3,
      width: Math.max(1, x(p75) - x(p25)),
      height: 12
    })
  );
  root.appendChild(
    svg('line', {
      class: 'ainb-ds-median',
      x1: x(p50),
      x2: x(p50),
      y1: 2,
      y2: 16
    })
  );
  const title = svg('title');
  title.textContent = `min ${short(min)} · Q1 ${short(p25)} · median ${short(p50)} · Q3 ${short(p75)} · max ${short(max)}`;
  root.appendChild(title);
  return root;
}
