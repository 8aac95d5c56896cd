/**
 * Layout of the DAG with elkjs: layered, top to bottom, orthogonal edges with
 * their labels placed by ELK. The bundled build runs ELK in the page, so no
 * web worker file has to be served.
 */
import ELK from 'elkjs/lib/elk.bundled.js';
import type { ElkExtendedEdge, ElkNode } from 'elkjs/lib/elk-api';

import { IDagModel } from './model';

export interface IPoint {
  x: number;
  y: number;
}

export interface IBox extends IPoint {
  width: number;
  height: number;
}

export interface IEdgeRoute {
  key: string;
  /** Start, bend points, end. */
  points: IPoint[];
  /** Where the label (inferred edges: the names) goes, if any. */
  label: (IBox & { text: string }) | null;
}

export interface ILayout {
  nodes: Map<number, IBox>;
  edges: Map<string, IEdgeRoute>;
  width: number;
  height: number;
}

export const NODE_WIDTH = 240;
export const NODE_HEIGHT = 56;
/** Edge labels: font size (px), height and the widest label shown. */
export const LABEL_FONT_SIZE = 11;
const LABEL_HEIGHT = 18;
const LABEL_MAX_CHARS = 32;

const LAYOUT_OPTIONS: Record<string, string> = {
  'elk.algorithm': 'layered',
  'elk.direction': 'DOWN',
  'elk.edgeRouting': 'ORTHOGONAL',
  'elk.padding': '[top=24,left=24,bottom=24,right=24]',
  'elk.spacing.nodeNode': '40',
  'elk.spacing.edgeNode': '24',
  'elk.spacing.edgeEdge': '14',
  'elk.spacing.edgeLabel': '4',
  'elk.layered.spacing.nodeNodeBetweenLayers': '56',
  'elk.layered.spacing.edgeNodeBetweenLayers': '20',
  'elk.layered.spacing.edgeEdgeBetweenLayers': '12',
  'elk.edgeLabels.inline': 'true',
  // Keep the blocks' order (left to right) where the graph allows.
  'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
  'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF'
};

let elk: InstanceType<typeof ELK> | null = null;

/** The text of an edge's label: the names causing it, shortened. */
export function labelText(names: string[]): string {
  const text = names.join(', ');
  return text.length > LABEL_MAX_CHARS
    ? `${text.slice(0, LABEL_MAX_CHARS - 1)}…`
    : text;
}

let canvas: HTMLCanvasElement | null = null;

/** Width in px of `text` in the code font at `size` px. */
export function textWidth(text: string, size: number): number {
  canvas = canvas ?? document.createElement('canvas');
  const context = canvas.getContext('2d');
  if (!context) {
    return text.length * size * 0.62;
  }
  const family =
    getComputedStyle(document.body)
      .getPropertyValue('--jp-code-font-family')
      .trim() || 'monospace';
  context.font = `${size}px ${family}`;
  return context.measureText(text).width;
}

/** Lay the model out; positions are in SVG user units (px at zoom 1). */
export async function layoutDag(model: IDagModel): Promise<ILayout> {
  const edges: ElkExtendedEdge[] = model.links.map(link => {
    const text = link.kind === 'inferred' ? labelText(link.names) : '';
    return {
      id: link.key,
      sources: [`n${link.source}`],
      targets: [`n${link.target}`],
      labels: text
        ? [
            {
              text,
              width: Math.ceil(textWidth(text, LABEL_FONT_SIZE)) + 12,
              height: LABEL_HEIGHT
            }
          ]
        : []
    };
  });
  const graph: ElkNode = {
    id: 'root',
    layoutOptions: LAYOUT_OPTIONS,
    children: model.blocks.map(block => ({
      id: `n${block.id}`,
      width: NODE_WIDTH,
      height: NODE_HEIGHT
    })),
    edges
  };
  elk = elk ?? new ELK();
  const result = await elk.layout(graph);

  const nodes = new Map<number, IBox>();
  for (const child of result.children ?? []) {
    nodes.set(Number(child.id.slice(1)), {
      x: child.x ?? 0,
      y: child.y ?? 0,
      width: child.width ?? NODE_WIDTH,
      height: child.height ?? NODE_HEIGHT
    });
  }
  const routes = new Map<string, IEdgeRoute>();
  for (const edge of result.edges ?? []) {
    const points: IPoint[] = [];
    for (const section of edge.sections ?? []) {
      points.push(section.startPoint, ...(section.bendPoints ?? []));
      points.push(section.endPoint);
    }
    const label = edge.labels?.[0];
    routes.set(edge.id, {
      key: edge.id,
      points,
      label: label?.text
        ? {
            text: label.text,
            x: label.x ?? 0,
            y: label.y ?? 0,
            width: label.width ?? 0,
            height: label.height ?? LABEL_HEIGHT
          }
        : null
    });
  }
  return {
    nodes,
    edges: routes,
    width: result.width ?? 0,
    height: result.height ?? 0
  };
}
