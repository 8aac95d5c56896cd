/**
 * Zoom and pan of an SVG group: wheel zooms around the pointer, a drag on the
 * background pans, `fit` shows the whole graph. The transform survives
 * re-rendering the group's content.
 */
import { IPoint } from './layout';

const MIN_SCALE = 0.2;
const MAX_SCALE = 2.5;
/** Fit never enlarges beyond this: small graphs keep a natural size. */
const FIT_MAX_SCALE = 1;
const FIT_MARGIN = 24;

export class Viewport {
  constructor(
    readonly svg: SVGSVGElement,
    readonly group: SVGGElement
  ) {
    svg.addEventListener('wheel', this._onWheel, { passive: false });
  }

  get scale(): number {
    return this._scale;
  }

  /** True once the user zoomed or panned since the last fit. */
  get moved(): boolean {
    return this._moved;
  }

  /** Client (page) coordinates to graph coordinates. */
  toGraph(clientX: number, clientY: number): IPoint {
    const rect = this.svg.getBoundingClientRect();
    return {
      x: (clientX - rect.left - this._x) / this._scale,
      y: (clientY - rect.top - this._y) / this._scale
    };
  }

  /** Zoom by `factor` around a client point (default: the centre). */
  zoomBy(factor: number, clientX?: number, clientY?: number): void {
    const rect = this.svg.getBoundingClientRect();
    const cx = (clientX ?? rect.left + rect.width / 2) - rect.left;
    const cy = (clientY ?? rect.top + rect.height / 2) - rect.top;
    const scale = clamp(this._scale * factor, MIN_SCALE, MAX_SCALE);
    const ratio = scale / this._scale;
    this._x = cx - (cx - this._x) * ratio;
    this._y = cy - (cy - this._y) * ratio;
    this._scale = scale;
    this._moved = true;
    this._apply();
  }

  /**
   * Show a box of graph coordinates whole, centred and at the top, unless
   * that needs a scale below `minScale`: then its top part, horizontally
   * around `focus` (e.g. the first block). False: not shown yet (no size).
   */
  fit(
    box: { width: number; height: number },
    minScale = MIN_SCALE,
    focus?: IPoint
  ): boolean {
    const rect = this.svg.getBoundingClientRect();
    if (rect.width <= 0 || rect.height <= 0 || box.width <= 0) {
      return false;
    }
    const scale = clamp(
      Math.min(
        (rect.width - 2 * FIT_MARGIN) / box.width,
        (rect.height - 2 * FIT_MARGIN) / box.height,
        FIT_MAX_SCALE
      ),
      minScale,
      MAX_SCALE
    );
    this._scale = scale;
    const width = box.width * scale;
    if (width <= rect.width || !focus) {
      this._x = (rect.width - width) / 2;
    } else {
      const x = rect.width / 2 - focus.x * scale;
      this._x = clamp(x, rect.width - width, 0);
    }
    // Graphs start at the top, as documents do.
    this._y = 0;
    this._moved = false;
    this._apply();
    return true;
  }

  /** Start panning from a pointerdown on the background. */
  startPan(event: PointerEvent): void {
    const start = { x: event.clientX, y: event.clientY };
    const origin = { x: this._x, y: this._y };
    const target = event.currentTarget as Element | null;
    target?.setPointerCapture?.(event.pointerId);
    this.svg.classList.add('ainb-dag-panning');
    const move = (e: PointerEvent): void => {
      this._x = origin.x + e.clientX - start.x;
      this._y = origin.y + e.clientY - start.y;
      this._moved = true;
      this._apply();
    };
    const up = (): void => {
      this.svg.classList.remove('ainb-dag-panning');
      window.removeEventListener('pointermove', move);
      window.removeEventListener('pointerup', up);
      window.removeEventListener('pointercancel', up);
    };
    window.addEventListener('pointermove', move);
    window.addEventListener('pointerup', up);
    window.addEventListener('pointercancel', up);
  }

  dispose(): void {
    this.svg.removeEventListener('wheel', this._onWheel);
  }

  private _onWheel = (event: WheelEvent): void => {
    event.preventDefault();
    // Pinch gestures arrive as ctrl+wheel with small deltas: zoom faster.
    const speed = event.ctrlKey ? 0.01 : 0.0015;
    const delta = event.deltaMode === 1 ? event.deltaY * 16 : event.deltaY;
    this.zoomBy(Math.exp(-delta * speed), event.clientX, event.clientY);
  };

  private _apply(): void {
    this.group.setAttribute(
      'transform',
      `translate(${this._x},${this._y}) scale(${this._scale})`
    );
  }

  private _scale = 1;
  private _moved = false;
  private _x = 0;
  private _y = 0;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
