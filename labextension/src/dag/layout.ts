/**
 * Layout of the DAG with elkjs: layered, top to bottom, orthogonal edges
 * (labels are placed on them here). The bundled build runs ELK in the page, so no
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
  'elk.layered.spacing.nodeNodeBetweenLayers': '64',
  'elk.layered.spacing.edgeNodeBetweenLayers': '20',
  'elk.layered.spacing.edgeEdgeBetweenLayers': '12',
  // Keep the blocks' order (left to right) where the graph allows.
  'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
  'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF'
};

/**
 * ELK runs in the page: big graphs trade crossing minimisation for time
 * (500 blocks: about 3 s at the default thoroughness, 1.3 s at 1).
 */
function sizeOptions(nodes: number): Record<string, string> {
  if (nodes > 250) {
    return { 'elk.layered.thoroughness': '1' };
  }
  if (nodes > 100) {
    return { 'elk.layered.thoroughness': '3' };
  }
  return {};
}

let elk: InstanceType<typeof ELK> | null = null;

/** The text of an edge's label: the names causing it, shortened. */
export function labelText(names: string[]): string {
  const text = names.join(', ');
  return text.length > LABEL_MAX_CHARS
    ? `${text.slice(0, LABEL_MAX_CHARS - 1)}…`
    : text;
}

let canvas: HTMLCanvasElement | null = null;
/** The code font family, read once per layout (the theme may change it). */
let family: string | null = null;

/** Width in px of `text` in the code font at `size` px. */
export function textWidth(text: string, size: number): number {
  canvas = canvas ?? document.createElement('canvas');
  const context = canvas.getContext('2d');
  if (!context) {
    return text.length * size * 0.62;
  }
  family =
    family ??
    (getComputedStyle(document.body)
      .getPropertyValue('--jp-code-font-family')
      .trim() ||
      'monospace');
  context.font = `${size}px ${family}`;
  return context.measureText(text).width;
}

/**
 * Where an edge's label goes: centred on the longest vertical run of its
 * route (its longest run if none is tall enough), over the line. Placing
 * labels here rather than in ELK keeps the layers close together.
 */
export function placeLabel(
  points: IPoint[],
  width: number,
  height: number
): IPoint | null {
  let best: { length: number; at: IPoint } | null = null;
  let longest: { length: number; at: IPoint } | null = null;
  for (let i = 1; i < points.length; i++) {
    const [a, b] = [points[i - 1], points[i]];
    const length = Math.hypot(b.x - a.x, b.y - a.y);
    const at = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    if (!longest || length > longest.length) {
      longest = { length, at };
    }
    if (Math.abs(a.x - b.x) < 0.5 && length >= height + 6) {
      if (!best || length > best.length) {
        best = { length, at };
      }
    }
  }
  const centre = (best ?? longest)?.at;
  return centre ? { x: centre.x - width / 2, y: centre.y - height / 2 } : null;
}

/** Lay the model out; positions are in SVG user units (px at zoom 1). */
export async function layoutDag(model: IDagModel): Promise<ILayout> {
  family = null;
  const edges: ElkExtendedEdge[] = model.links.map(link => ({
    id: link.key,
    sources: [`n${link.source}`],
    targets: [`n${link.target}`]
  }));
  const graph: ElkNode = {
    id: 'root',
    layoutOptions: { ...LAYOUT_OPTIONS, ...sizeOptions(model.blocks.length) },
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
  const links = new Map(model.links.map(link => [link.key, link]));
  const routes = new Map<string, IEdgeRoute>();
  for (const edge of result.edges ?? []) {
    const points: IPoint[] = [];
    for (const section of edge.sections ?? []) {
      points.push(section.startPoint, ...(section.bendPoints ?? []));
      points.push(section.endPoint);
    }
    const link = links.get(edge.id);
    const text =
      link?.kind === 'inferred' && link.names.length
        ? labelText(link.names)
        : '';
    const width = Math.ceil(textWidth(text, LABEL_FONT_SIZE)) + 12;
    const at = text ? placeLabel(points, width, LABEL_HEIGHT) : null;
    routes.set(edge.id, {
      key: edge.id,
      points,
      label: at ? { text, ...at, width, height: LABEL_HEIGHT } : null
    });
  }
  return {
    nodes,
    edges: routes,
    width: result.width ?? 0,
    height: result.height ?? 0
  };
}
