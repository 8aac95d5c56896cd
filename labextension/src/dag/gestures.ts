/**
 * Pointer gestures on the DAG's SVG: a click on a node, a drag from one node
 * to another (a new explicit edge, previewed as a dashed line), a click on an
 * edge, and a drag on the background (pan).
 */
import { IPoint } from './layout';
import { svgEl } from './render';
import { Viewport } from './viewport';

/** Pointer travel (px) before a press on a node becomes a drag. */
const DRAG_THRESHOLD = 5;

export interface IGestureHandlers {
  /** Where a new edge starts (graph coordinates) for a node. */
  anchor(blockId: number): IPoint | null;
  nodeClick(blockId: number): void;
  connect(source: number, target: number): void;
  edgeClick(edge: SVGGElement): void;
  backgroundClick(): void;
}

/** The block id of the node under an element, if any. */
export function nodeOf(target: EventTarget | null): SVGGElement | null {
  return target instanceof Element
    ? (target.closest('.ainb-dag-node') as SVGGElement | null)
    : null;
}

export class Gestures {
  constructor(
    private readonly viewport: Viewport,
    /** Where the drag preview is drawn (inside the zoomed group). */
    private readonly overlay: SVGGElement,
    private readonly handlers: IGestureHandlers
  ) {
    viewport.svg.addEventListener('pointerdown', this._onDown);
  }

  /** True while a drag from a node is under way. */
  get connecting(): boolean {
    return this._line !== null;
  }

  /** Abandon a drag under way (Escape). */
  cancel(): void {
    this._end?.();
  }

  dispose(): void {
    this.cancel();
    this.viewport.svg.removeEventListener('pointerdown', this._onDown);
  }

  private _onDown = (event: PointerEvent): void => {
    if (event.button !== 0) {
      return;
    }
    const node = nodeOf(event.target);
    if (node) {
      event.preventDefault();
      this._pressNode(event, Number(node.dataset.blockId));
      return;
    }
    const edge =
      event.target instanceof Element
        ? (event.target.closest('.ainb-dag-edge') as SVGGElement | null)
        : null;
    if (edge) {
      this.handlers.edgeClick(edge);
      return;
    }
    this.handlers.backgroundClick();
    this.viewport.startPan(event);
  };

  private _pressNode(event: PointerEvent, source: number): void {
    const start = { x: event.clientX, y: event.clientY };
    let dragging = false;
    let over: SVGGElement | null = null;

    const setOver = (node: SVGGElement | null): void => {
      if (node === over) {
        return;
      }
      over?.classList.remove('ainb-dag-drop-target');
      over = node;
      over?.classList.add('ainb-dag-drop-target');
    };
    const move = (e: PointerEvent): void => {
      if (!dragging) {
        if (
          Math.hypot(e.clientX - start.x, e.clientY - start.y) < DRAG_THRESHOLD
        ) {
          return;
        }
        dragging = true;
        this._startLine(source);
      }
      const p = this.viewport.toGraph(e.clientX, e.clientY);
      this._line?.setAttribute('x2', String(p.x));
      this._line?.setAttribute('y2', String(p.y));
      const hit = nodeOf(document.elementFromPoint(e.clientX, e.clientY));
      setOver(hit && Number(hit.dataset.blockId) !== source ? hit : null);
    };
    const up = (e: PointerEvent): void => {
      const target = over ? Number(over.dataset.blockId) : null;
      finish();
      if (!dragging) {
        this.handlers.nodeClick(source);
      } else if (target !== null && e.type === 'pointerup') {
        this.handlers.connect(source, target);
      }
    };
    const finish = (): void => {
      setOver(null);
      this._line?.remove();
      this._line = null;
      this.viewport.svg.classList.remove('ainb-dag-connecting');
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      window.removeEventListener('pointercancel', up);
      this._end = null;
    };
    this._end = finish;
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
    window.addEventListener('pointercancel', up);
  }

  private _startLine(source: number): void {
    const from = this.handlers.anchor(source) ?? { x: 0, y: 0 };
    this.viewport.svg.classList.add('ainb-dag-connecting');
    this._line = svgEl(
      'line',
      {
        class: 'ainb-dag-connect-line',
        x1: from.x,
        y1: from.y,
        x2: from.x,
        y2: from.y
      },
      this.overlay
    );
  }

  private _line: SVGLineElement | null = null;
  private _end: (() => void) | null = null;
}
