/**
 * Line diffs of block sources for the agent's cards: a unified diff from the
 * server (approval previews) or one computed here from a change's before and
 * after, shown as lines marked + / - / context.
 */
import { el } from '../dom';

export type DiffLine = { sign: '+' | '-' | ' ' | '@'; text: string };

/** Longest blocks compared line by line; longer ones show before/after whole. */
const MAX_LINES = 600;

/** The lines of a line diff between two sources (LCS; context kept whole). */
export function lineDiff(before: string, after: string): DiffLine[] {
  const a = before ? before.split('\n') : [];
  const b = after ? after.split('\n') : [];
  if (a.length > MAX_LINES || b.length > MAX_LINES) {
    return [
      ...a.map(text => ({ sign: '-' as const, text })),
      ...b.map(text => ({ sign: '+' as const, text }))
    ];
  }
  // lcs[i][j]: length of the longest common subsequence of a[i:] and b[j:]
  const lcs: number[][] = Array.from({ length: a.length + 1 }, () =>
    new Array<number>(b.length + 1).fill(0)
  );
  for (let i = a.length - 1; i >= 0; i--) {
    for (let j = b.length - 1; j >= 0; j--) {
      lcs[i][j] =
        a[i] === b[j]
          ? lcs[i + 1][j + 1] + 1
          : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const out: DiffLine[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (i < a.length && j < b.length && a[i] === b[j]) {
      out.push({ sign: ' ', text: a[i] });
      i++;
      j++;
    } else if (
      j < b.length &&
      (i >= a.length || lcs[i][j + 1] >= lcs[i + 1][j])
    ) {
      out.push({ sign: '+', text: b[j++] });
    } else {
      out.push({ sign: '-', text: a[i++] });
    }
  }
  return out;
}

/** The lines of a unified diff text (file headers dropped). */
export function parseUnified(text: string): DiffLine[] {
  const out: DiffLine[] = [];
  for (const line of text.split('\n')) {
    if (line.startsWith('+++') || line.startsWith('---') || line === '') {
      continue;
    }
    const sign = line[0];
    if (sign === '+' || sign === '-' || sign === ' ' || sign === '@') {
      out.push({ sign, text: line.slice(1) });
    } else {
      out.push({ sign: ' ', text: line });
    }
  }
  return out;
}

/** A `<pre>` of diff lines, each marked by its sign (`data-sign`). */
export function renderDiff(lines: DiffLine[]): HTMLElement {
  const pre = el('pre', 'ainb-agent-diff');
  for (const line of lines) {
    const text =
      line.sign === '@' ? `@${line.text}` : `${line.sign} ${line.text}`;
    const row = el('span', 'ainb-agent-diff-line', text);
    row.dataset.sign =
      line.sign === '+'
        ? 'add'
        : line.sign === '-'
          ? 'del'
          : line.sign === '@'
            ? 'hunk'
            : 'same';
    pre.appendChild(row);
  }
  return pre;
}
