/**
 * SVG elements of the DAG view: nodes, edges, arrow markers. Text is set with
 * `textContent` only. Colours come from CSS (style/dag.css) keyed on the
 * `data-state` and `data-kind` attributes, so a state change is one attribute.
 *
 * UI-test contract: every node is `g.ainb-dag-node[data-block-id][data-state]`,
 * every edge `g.ainb-dag-edge[data-source][data-target][data-kind]`.
 */
import { IBox, IEdgeRoute, LABEL_FONT_SIZE, textWidth } from './layout';
import {
  DagState,
  IDagBlock,
  IDagLink,
  formatAgo,
  formatDuration
} from './model';

const SVG_NS = 'http://www.w3.org/2000/svg';
const TITLE_FONT_SIZE = 12;
const CORNER = 6;

/** Create an SVG element with attributes, appended to `parent` if given. */
export function svgEl<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number> = {},
  parent?: Element
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attrs)) {
    node.setAttribute(name, String(value));
  }
  parent?.appendChild(node);
  return node;
}

/** Arrow markers of both edge kinds, with ids unique to one view. */
export function renderMarkers(svg: SVGSVGElement, prefix: string): void {
  const defs = svgEl('defs', {}, svg);
  for (const kind of ['inferred', 'explicit', 'selected']) {
    const marker = svgEl(
      'marker',
      {
        id: `${prefix}-arrow-${kind}`,
        viewBox: '0 0 10 10',
        refX: 9,
        refY: 5,
        markerWidth: 7,
        markerHeight: 7,
        markerUnits: 'userSpaceOnUse',
        orient: 'auto-start-reverse',
        class: `ainb-dag-arrow ainb-dag-arrow-${kind}`
      },
      defs
    );
    svgEl('path', { d: 'M 0 0 L 10 5 L 0 10 z' }, marker);
  }
}

/** Shorten `text` with an ellipsis to fit `width` px at `size` px. */
function fitText(text: string, width: number, size: number): string {
  if (textWidth(text, size) <= width) {
    return text;
  }
  let low = 0;
  let high = text.length;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (textWidth(`${text.slice(0, mid)}…`, size) <= width) {
      low = mid;
    } else {
      high = mid - 1;
    }
  }
  return `${text.slice(0, low)}…`;
}

/** The node's second line: state, duration and when it last ran. */
export function metaText(block: IDagBlock, now = new Date()): string {
  if (block.error) {
    return 'syntax error';
  }
  const parts: string[] = [block.state];
  const run = block.lastRun;
  if (run && block.state !== 'running' && block.state !== 'queued') {
    if (run.seconds !== null) {
      parts.push(formatDuration(run.seconds));
    }
    if (run.finishedAt) {
      parts.push(formatAgo(run.finishedAt, now));
    }
  }
  return parts.join(' · ');
}

function tooltip(block: IDagBlock): string {
  const lines = block.source.split('\n');
  const code = lines.slice(0, 12).join('\n') + (lines.length > 12 ? '\n…' : '');
  const extra: string[] = [];
  if (block.staleReason) {
    extra.push(`Stale: ${block.staleReason}`);
  }
  if (block.error) {
    extra.push(`Cannot analyze: ${block.error}`);
  }
  if (block.defines.length) {
    extra.push(`Defines: ${block.defines.join(', ')}`);
  }
  if (block.unresolved.length) {
    extra.push(`Undefined here: ${block.unresolved.join(', ')}`);
  }
  return [`Block #${block.id} (${block.state})`, code, ...extra].join('\n\n');
}

/** A node: state stripe, first line of code, block id, state and run time. */
export function renderNode(block: IDagBlock, box: IBox): SVGGElement {
  const { width, height } = box;
  const g = svgEl('g', {
    class: 'ainb-dag-node',
    transform: `translate(${box.x},${box.y})`,
    'data-block-id': block.id,
    'data-state': block.state,
    tabindex: -1
  });
  if (block.error) {
    g.classList.add('ainb-dag-node-error');
  }
  svgEl('title', {}, g).textContent = tooltip(block);
  svgEl(
    'rect',
    { class: 'ainb-dag-node-box', width, height, rx: CORNER, ry: CORNER },
    g
  );
  const r = CORNER;
  svgEl(
    'path',
    {
      class: 'ainb-dag-node-stripe',
      d: `M${r},0 A${r},${r} 0 0 0 0,${r} V${height - r} A${r},${r} 0 0 0 ${r},${height} Z`
    },
    g
  );
  const id = svgEl(
    'text',
    { class: 'ainb-dag-node-id', x: width - 10, y: 22, 'text-anchor': 'end' },
    g
  );
  id.textContent = `#${block.id}`;
  const title = svgEl(
    'text',
    { class: 'ainb-dag-node-title', x: 16, y: 22 },
    g
  );
  title.textContent = fitText(block.title, width - 60, TITLE_FONT_SIZE);
  svgEl('circle', { class: 'ainb-dag-node-dot', cx: 20, cy: 39, r: 4 }, g);
  const meta = svgEl('text', { class: 'ainb-dag-node-meta', x: 30, y: 43 }, g);
  meta.textContent = metaText(block);
  return g;
}

/** Change a rendered node's state in place (no relayout). */
export function setNodeState(
  g: SVGGElement,
  block: IDagBlock,
  state: DagState
): void {
  block.state = state;
  g.setAttribute('data-state', state);
  const meta = g.querySelector('.ainb-dag-node-meta');
  if (meta) {
    meta.textContent = metaText(block);
  }
  const title = g.querySelector('title');
  if (title) {
    title.textContent = tooltip(block);
  }
}

/** An SVG path through `points` with rounded corners. */
export function roundedPath(points: { x: number; y: number }[]): string {
  if (points.length === 0) {
    return '';
  }
  const radius = 8;
  let d = `M${points[0].x},${points[0].y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const [a, b, c] = [points[i - 1], points[i], points[i + 1]];
    const inLen = Math.hypot(b.x - a.x, b.y - a.y);
    const outLen = Math.hypot(c.x - b.x, c.y - b.y);
    const r = Math.min(radius, inLen / 2, outLen / 2);
    if (r < 0.5) {
      d += ` L${b.x},${b.y}`;
      continue;
    }
    const p1 = {
      x: b.x - ((b.x - a.x) / inLen) * r,
      y: b.y - ((b.y - a.y) / inLen) * r
    };
    const p2 = {
      x: b.x + ((c.x - b.x) / outLen) * r,
      y: b.y + ((c.y - b.y) / outLen) * r
    };
    d += ` L${p1.x},${p1.y} Q${b.x},${b.y} ${p2.x},${p2.y}`;
  }
  const last = points[points.length - 1];
  return `${d} L${last.x},${last.y}`;
}

/** An edge: a wide invisible hit path, the line with its arrow, a label. */
export function renderEdge(
  link: IDagLink,
  route: IEdgeRoute,
  markerPrefix: string
): SVGGElement {
  const g = svgEl('g', {
    class: `ainb-dag-edge ainb-dag-edge-${link.kind}`,
    'data-source': link.source,
    'data-target': link.target,
    'data-kind': link.kind
  });
  if (link.edgeId !== null) {
    g.setAttribute('data-edge-id', String(link.edgeId));
  }
  const d = roundedPath(route.points);
  const what =
    link.kind === 'explicit'
      ? `Explicit edge #${link.source} → #${link.target} (click to select, Delete to remove)`
      : `#${link.target} uses ${link.names.join(', ')} from #${link.source}`;
  svgEl('title', {}, g).textContent = what;
  svgEl('path', { class: 'ainb-dag-edge-hit', d }, g);
  svgEl(
    'path',
    {
      class: 'ainb-dag-edge-line',
      d,
      'marker-end': `url(#${markerPrefix}-arrow-${link.kind})`
    },
    g
  );
  if (route.label) {
    const { x, y, width, height, text } = route.label;
    const label = svgEl('g', { class: 'ainb-dag-edge-label' }, g);
    svgEl(
      'rect',
      { x, y, width, height, rx: height / 2, ry: height / 2 },
      label
    );
    const t = svgEl(
      'text',
      {
        x: x + width / 2,
        y: y + height / 2 + LABEL_FONT_SIZE * 0.35,
        'text-anchor': 'middle'
      },
      label
    );
    t.textContent = text;
  }
  return g;
}

/** Mark an edge selected (or not): its arrow changes colour too. */
export function setEdgeSelected(
  g: SVGGElement,
  selected: boolean,
  markerPrefix: string
): void {
  g.classList.toggle('ainb-dag-selected', selected);
  const kind = g.getAttribute('data-kind') ?? 'inferred';
  g.querySelector('.ainb-dag-edge-line')?.setAttribute(
    'marker-end',
    `url(#${markerPrefix}-arrow-${selected ? 'selected' : kind})`
  );
}
