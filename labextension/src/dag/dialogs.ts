/** Dialogs of the DAG view: an edge refused because it closes a cycle. */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { el } from '../dom';

/**
 * Show the server's refusal of `source -> target` with the blocks of the
 * cycle listed by name (`cycle` as in the 409's `details.cycle`, first block
 * repeated at the end).
 */
export async function showCycleRefused(
  message: string,
  edge: string,
  cycle: string[]
): Promise<void> {
  const body = el('div', 'ainb-dag-cycle');
  body.append(el('p', '', `The server refused the edge ${edge}: ${message}.`));
  const list = el('ol', 'ainb-dag-cycle-blocks');
  for (const name of cycle) {
    list.append(el('li', '', name));
  }
  body.append(list);
  await showDialog({
    title: 'Cycle refused',
    body: new Widget({ node: body }),
    buttons: [Dialog.okButton({ label: 'Close' })]
  });
}
