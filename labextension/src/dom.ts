import type { LabIcon } from '@jupyterlab/ui-components';

/** Small DOM helpers shared by the panel's parts (text only, never innerHTML). */

export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className?: string,
  text?: string
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text !== undefined) {
    node.textContent = text;
  }
  return node;
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) {
    return err.message;
  }
  return String(err);
}

/** A JupyterLab-styled button showing only an icon, labelled for tooltips and screen readers. */
export function iconButton(
  className: string,
  title: string,
  icon: LabIcon
): HTMLButtonElement {
  const button = el('button', `${className} ainb-icon-button jp-Button`);
  button.type = 'button';
  button.title = title;
  button.setAttribute('aria-label', title);
  icon.element({ container: button, elementSize: 'normal' });
  return button;
}
