/**
 * Lineage of a dataset as a small graph, left to right: versions of other
 * datasets that runs read, the block runs, this dataset's versions, and what
 * runs that read it wrote. Laid out by elkjs; a run's node jumps to its block.
 *
 * Selectors: .ainb-ds-lineage, svg.ainb-ds-lineage-graph,
 * g.ainb-ds-node[data-kind=version|run|other][data-block-id],
 * .ainb-ds-lineage-runs a.ainb-ds-block-link.
 */
import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkNode } from 'elkjs/lib/elk-api';

import { el, errorMessage } from '../dom';
import type { DatasetsClient, ILineage } from './client';
import { formatWhen } from './format';

const SVG = 'http://www.w3.org/2000/svg';
const W = 190;
const H = 38;

interface INode {
  id: string;
  kind: 'version' | 'run' | 'other';
  label: string;
  sub: string;
  blockId?: number;
  status?: string;
}

/** Nodes and edges of a lineage answer (pure). */
export function lineageGraph(
  name: string,
  l: ILineage,
  titles: Map<number, string> = new Map()
): { nodes: INode[]; edges: Array<[string, string]> } {
  const nodes = new Map<string, INode>();
  const edges = new Set<string>();
  const edge = (a: string, b: string) => edges.add(`${a}|${b}`);
  const run = (id: number, blockId: number | null, status = '') => {
    const key = `run-${id}`;
    if (!nodes.has(key)) {
      nodes.set(key, {
        id: key,
        kind: 'run',
        label:
          blockId === null
            ? 'deleted block'
            : titles.get(blockId) || `block ${blockId}`,
        sub: `${blockId === null ? '' : `block ${blockId} · `}run ${id}${status ? ` · ${status}` : ''}`,
        blockId: blockId ?? undefined,
        status
      });
    }
    return key;
  };
  for (const r of l.runs) {
    const v = `v-${r.version}`;
    nodes.set(v, {
      id: v,
      kind: 'version',
      label: `${name} v${r.version}`,
      sub: 'this dataset'
    });
    const key = run(r.run_id, r.block_id, r.status);
    if (r.direction === 'read') {
      edge(v, key);
    } else {
      edge(key, v);
    }
  }
  const other = (o: {
    dataset_id: number;
    dataset: string;
    version: number;
  }) => {
    const key = `o-${o.dataset_id}-${o.version}`;
    nodes.set(key, {
      id: key,
      kind: 'other',
      label: `${o.dataset} v${o.version}`,
      sub: 'dataset'
    });
    return key;
  };
  for (const o of l.upstream) {
    if (nodes.has(`run-${o.run_id}`)) {
      edge(other(o), `run-${o.run_id}`);
    }
  }
  for (const o of l.downstream) {
    if (nodes.has(`run-${o.run_id}`)) {
      edge(`run-${o.run_id}`, other(o));
    }
  }
  return {
    nodes: [...nodes.values()],
    edges: [...edges].map(e => e.split('|') as [string, string])
  };
}

function svg<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>
): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    node.setAttribute(k, String(v));
  }
  return node;
}

export class LineageView {
  readonly node = el('div', 'ainb-ds-lineage');

  constructor(
    private readonly client: DatasetsClient,
    private readonly openBlock: (blockId: number) => void
  ) {}

  async show(datasetId: number, name: string): Promise<void> {
    const token = ++this._token;
    this.node.replaceChildren(el('div', 'ainb-ds-loading', 'Loading lineage…'));
    try {
      const [lineage, titles] = await Promise.all([
        this.client.lineage(datasetId),
        this.client.blockTitles().catch(() => new Map<number, string>())
      ]);
      const graph = lineageGraph(name, lineage, titles);
      const drawn = graph.nodes.length ? await this.draw(graph) : null;
      if (token !== this._token) {
        return;
      }
      const parts: HTMLElement[] = [];
      if (!drawn) {
        parts.push(
          el(
            'div',
            'ainb-ds-empty',
            'No block has read or written this dataset yet. Insert a loading block and run it.'
          )
        );
      } else {
        parts.push(drawn);
      }
      parts.push(this.runList(lineage));
      this.node.replaceChildren(...parts);
    } catch (err) {
      if (token === this._token) {
        this.node.replaceChildren(
          el('div', 'ainb-ds-error', errorMessage(err))
        );
      }
    }
  }

  private async draw(
    graph: ReturnType<typeof lineageGraph>
  ): Promise<HTMLElement> {
    const elk = new ELK();
    const laid: ElkNode = await elk.layout({
      id: 'root',
      layoutOptions: {
        'elk.algorithm': 'layered',
        'elk.direction': 'RIGHT',
        'elk.edgeRouting': 'POLYLINE',
        'elk.padding': '[top=12,left=12,bottom=12,right=12]',
        'elk.spacing.nodeNode': '16',
        'elk.layered.spacing.nodeNodeBetweenLayers': '48'
      },
      children: graph.nodes.map(n => ({ id: n.id, width: W, height: H })),
      edges: graph.edges.map(([a, b], i) => ({
        id: `e${i}`,
        sources: [a],
        targets: [b]
      }))
    });
    const width = laid.width ?? 0;
    const height = laid.height ?? 0;
    const root = svg('svg', {
      class: 'ainb-ds-lineage-graph',
      width,
      height,
      viewBox: `0 0 ${width} ${height}`
    });
    const defs = svg('defs', {});
    const marker = svg('marker', {
      id: 'ainb-ds-arrow',
      viewBox: '0 0 10 10',
      refX: 10,
      refY: 5,
      markerWidth: 7,
      markerHeight: 7,
      orient: 'auto-start-reverse'
    });
    marker.appendChild(
      svg('path', { d: 'M0,0 L10,5 L0,10 z', class: 'ainb-ds-arrowhead' })
    );
    defs.appendChild(marker);
    root.appendChild(defs);
    for (const e of laid.edges ?? []) {
      for (const s of e.sections ?? []) {
        const pts = [s.startPoint, ...(s.bendPoints ?? []), s.endPoint];
        root.appendChild(
          svg('polyline', {
            class: 'ainb-ds-edge',
            points: pts.map(p => `${p.x},${p.y}`).join(' '),
            'marker-end': 'url(#ainb-ds-arrow)'
          })
        );
      }
    }
    const byId = new Map(graph.nodes.map(n => [n.id, n]));
    for (const c of laid.children ?? []) {
      const n = byId.get(c.id)!;
      const g = svg('g', {
        class: `ainb-ds-node ainb-ds-node-${n.kind}`,
        transform: `translate(${c.x ?? 0},${c.y ?? 0})`,
        'data-kind': n.kind
      });
      if (n.status) {
        g.setAttribute('data-status', n.status);
      }
      g.appendChild(svg('rect', { width: W, height: H, rx: 6 }));
      const label = svg('text', { x: 8, y: 16, class: 'ainb-ds-node-label' });
      label.textContent =
        n.label.length > 27 ? `${n.label.slice(0, 26)}…` : n.label;
      const sub = svg('text', { x: 8, y: 30, class: 'ainb-ds-node-sub' });
      sub.textContent = n.sub;
      const title = svg('title', {});
      title.textContent = n.blockId
        ? `${n.label} (${n.sub}): open the block`
        : n.label;
      g.append(title, label, sub);
      if (n.blockId !== undefined) {
        const blockId = n.blockId;
        g.setAttribute('data-block-id', String(blockId));
        g.setAttribute('role', 'link');
        g.setAttribute('tabindex', '0');
        g.addEventListener('click', () => this.openBlock(blockId));
      }
      root.appendChild(g);
    }
    const box = el('div', 'ainb-ds-lineage-scroll');
    box.appendChild(root);
    return box;
  }

  private runList(l: ILineage): HTMLElement {
    const list = el('ul', 'ainb-ds-lineage-runs');
    for (const r of l.runs) {
      const li = el('li');
      const verb = r.direction === 'read' ? 'read' : 'wrote';
      if (r.block_id !== null) {
        const a = el('a', 'ainb-ds-block-link', `block ${r.block_id}`);
        const blockId = r.block_id;
        a.href = '#';
        a.addEventListener('click', ev => {
          ev.preventDefault();
          this.openBlock(blockId);
        });
        li.append(a);
      } else {
        li.append(el('span', '', 'a deleted block'));
      }
      li.append(
        el(
          'span',
          '',
          ` ${verb} v${r.version} in run ${r.run_id} (${r.status}), ${formatWhen(r.created_at)}`
        )
      );
      list.appendChild(li);
    }
    return list;
  }

  private _token = 0;
}
