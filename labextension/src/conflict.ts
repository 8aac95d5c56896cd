/**
 * The dialog shown when a block was changed by someone else while it was
 * being edited here (a 409 on save): their text beside ours, "keep mine" or
 * "take theirs".
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import type { IBlock } from './api';

function column(title: string, text: string, cls: string): HTMLElement {
  const box = document.createElement('div');
  box.className = `ainb-conflict-side ${cls}`;
  const heading = document.createElement('h4');
  heading.textContent = title;
  const pre = document.createElement('pre');
  pre.textContent = text;
  box.append(heading, pre);
  return box;
}

export async function resolveConflict(
  mine: string,
  theirs: IBlock
): Promise<'mine' | 'theirs'> {
  const body = new Widget();
  body.addClass('ainb-conflict');
  const note = document.createElement('p');
  note.textContent =
    'This block was changed by someone else while you were editing it.';
  const sides = document.createElement('div');
  sides.className = 'ainb-conflict-sides';
  sides.append(
    column('Your text', mine, 'ainb-conflict-mine'),
    column(
      `Their text (version ${theirs.version})`,
      theirs.source,
      'ainb-conflict-theirs'
    )
  );
  body.node.append(note, sides);
  const result = await showDialog({
    title: 'Edit conflict',
    body,
    buttons: [
      Dialog.cancelButton({ label: 'Take theirs' }),
      Dialog.okButton({ label: 'Keep mine' })
    ]
  });
  return result.button.accept ? 'mine' : 'theirs';
}
