/**
 * Uploads: a drop zone (drag a file onto it, or pick one), then one row per
 * upload with a progress bar of the bytes sent, the server's reading and
 * profiling after that, and a Cancel button until it is done. Files over
 * BACKGROUND_BYTES go in background mode: the server answers once the file is
 * stored and its schema read, and the version becomes ready later (an event).
 *
 * Selectors: .ainb-ds-drop, input.ainb-ds-file, input.ainb-ds-upload-name,
 * .ainb-ds-upload[data-name][data-state], progress.ainb-ds-progress,
 * button.ainb-ds-cancel.
 */
import { el, errorMessage } from '../dom';
import type { DatasetsClient, IUploadResult } from './client';
import { formatBytes, formatCount } from './format';

/** Bigger files are uploaded in background mode. */
export const BACKGROUND_BYTES = 64 * 1000 * 1000;

export type UploadState =
  'sending' | 'reading' | 'done' | 'failed' | 'cancelled';

/** The dataset name a file gets by default: its name without the extension. */
export function defaultName(filename: string): string {
  const stem = filename.replace(/\.[^.]+$/, '').trim();
  return (stem || filename).replace(/[/\\]/g, '_').slice(0, 200);
}

export class UploadZone {
  readonly node = el('div', 'ainb-ds-uploads');

  constructor(
    private readonly client: DatasetsClient,
    private readonly onUploaded: (result: IUploadResult) => void
  ) {
    this.drop = el('div', 'ainb-ds-drop');
    this.drop.tabIndex = 0;
    this.drop.title = 'Drop a CSV, TSV, Parquet, JSON, JSONL or Excel file';
    this.name = el('input', 'ainb-ds-upload-name jp-mod-styled');
    this.name.placeholder = 'dataset name (default: the file name)';
    this.name.setAttribute('aria-label', 'Dataset name for the next upload');
    this.file = el('input', 'ainb-ds-file');
    this.file.type = 'file';
    this.file.accept = '.csv,.tsv,.txt,.parquet,.json,.jsonl,.ndjson,.xlsx';
    this.file.hidden = true;
    const pick = el(
      'button',
      'ainb-ds-pick jp-mod-styled jp-Button',
      'Choose file…'
    );
    pick.type = 'button';
    pick.addEventListener('click', () => this.file.click());
    this.file.addEventListener('change', () => {
      const f = this.file.files?.[0];
      if (f) {
        this.start(f);
      }
      this.file.value = '';
    });
    this.drop.append(
      el('div', 'ainb-ds-drop-text', 'Drop a file here to upload it'),
      pick,
      this.file
    );
    for (const type of ['dragenter', 'dragover']) {
      this.drop.addEventListener(type, ev => {
        ev.preventDefault();
        this.drop.classList.add('ainb-mod-dragover');
      });
    }
    this.drop.addEventListener('dragleave', () =>
      this.drop.classList.remove('ainb-mod-dragover')
    );
    this.drop.addEventListener('drop', (ev: DragEvent) => {
      ev.preventDefault();
      ev.stopPropagation();
      this.drop.classList.remove('ainb-mod-dragover');
      for (const f of Array.from(ev.dataTransfer?.files ?? [])) {
        this.start(f);
      }
    });
    this.list = el('div', 'ainb-ds-upload-list');
    this.node.append(this.drop, this.name, this.list);
  }

  set readOnly(value: boolean) {
    this.node.hidden = value;
  }

  /** Upload a file (as `name`, or the name field's, or the file's name). */
  start(file: File, name?: string): void {
    const dataset = name ?? (this.name.value.trim() || defaultName(file.name));
    this.name.value = '';
    const background = file.size > BACKGROUND_BYTES;
    const row = el('div', 'ainb-ds-upload');
    row.dataset.name = dataset;
    const title = el('span', 'ainb-ds-upload-title', dataset);
    const bar = el('progress', 'ainb-ds-progress');
    bar.max = 1;
    bar.value = 0;
    const text = el(
      'span',
      'ainb-ds-upload-text',
      `0 / ${formatBytes(file.size)}`
    );
    const cancel = el(
      'button',
      'ainb-ds-cancel jp-mod-styled jp-Button',
      'Cancel'
    );
    cancel.type = 'button';
    row.append(title, bar, text, cancel);
    this.list.prepend(row);
    const state = (s: UploadState, message: string) => {
      row.dataset.state = s;
      text.textContent = message;
      if (s !== 'sending' && s !== 'reading') {
        cancel.textContent = '✕';
        cancel.title = 'Dismiss';
      }
    };
    state('sending', text.textContent ?? '');

    const upload = this.client.upload(dataset, file, file.name, {
      background,
      onProgress: (loaded, total) => {
        const all = total || file.size;
        bar.value = all ? loaded / all : 0;
        const percent = all ? Math.floor((100 * loaded) / all) : 0;
        state(
          'sending',
          `${formatBytes(loaded)} / ${formatBytes(all)} · ${percent}%`
        );
      },
      onSent: () => {
        bar.value = 1;
        bar.removeAttribute('value'); // indeterminate while the server reads it
        state(
          'reading',
          background
            ? 'storing, reading the schema…'
            : 'reading, profiling, checking…'
        );
      }
    });
    cancel.addEventListener('click', () => {
      if (row.dataset.state === 'sending' || row.dataset.state === 'reading') {
        upload.cancel();
      } else {
        row.remove();
      }
    });
    upload.done.then(
      result => {
        bar.value = 1;
        const v = result.version;
        const detail = !result.created
          ? 'same content as the latest version'
          : v.status === 'processing'
            ? `v${v.number} stored; counting rows in the background`
            : `v${v.number} · ${formatCount(v.row_count)} rows · ${v.columns.length} columns`;
        state('done', detail);
        this.onUploaded(result);
      },
      err => {
        bar.value = 0;
        const cancelled = (err as { code?: string }).code === 'cancelled';
        state(
          cancelled ? 'cancelled' : 'failed',
          cancelled ? 'cancelled' : errorMessage(err)
        );
      }
    );
  }

  private readonly drop: HTMLDivElement;
  private readonly name: HTMLInputElement;
  private readonly file: HTMLInputElement;
  private readonly list: HTMLDivElement;
}
