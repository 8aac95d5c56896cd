/**
 * Run outputs as the server stores them, made ready for rendermime: data the
 * server moved out to artifacts is fetched back (cached), and outputs that
 * stream in through events get a note where binary data was left out.
 */
import type * as nbformat from '@jupyterlab/nbformat';

import type { AiNotebookAPI, IArtifactRef, IStoredOutput } from './api';

/** A value of a mime bundle: text, base64 or JSON. */
type MimeValue = nbformat.IMimeBundle[string];

/** Artifacts larger than this are not fetched (a note is shown instead). */
export const MAX_ARTIFACT_BYTES = 20 * 1024 * 1024;
/** The full text of a truncated stream is fetched up to this size. */
export const MAX_STREAM_BYTES = 2 * 1024 * 1024;
/** Artifacts kept in memory (content-addressed, so never stale). */
const CACHE_BYTES = 64 * 1024 * 1024;

const TEXT_MIMES = new Set([
  'application/json',
  'application/javascript',
  'image/svg+xml'
]);

/** Same rule as the server: mime bundles carry these as base64 strings. */
export function isBinaryMime(mime: string): boolean {
  return !(
    mime.startsWith('text/') ||
    TEXT_MIMES.has(mime) ||
    mime.endsWith('+json')
  );
}

function isJsonMime(mime: string): boolean {
  return mime === 'application/json' || mime.endsWith('+json');
}

export function formatBytes(size: number): string {
  if (size < 1024) {
    return `${size} B`;
  }
  if (size < 1024 * 1024) {
    return `${(size / 1024).toFixed(1)} KB`;
  }
  return `${(size / (1024 * 1024)).toFixed(1)} MB`;
}

function blobToBase64(blob: Blob): Promise<string> {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => {
      const url = String(reader.result);
      resolve(url.slice(url.indexOf(',') + 1));
    };
    reader.onerror = () =>
      reject(reader.error ?? new Error('could not read the artifact'));
    reader.readAsDataURL(blob);
  });
}

/**
 * Fetches artifacts as mime-bundle values (base64 for binary mimes, parsed
 * JSON for JSON mimes, text otherwise), caching them by project and sha256.
 */
export class ArtifactLoader {
  constructor(private readonly _api: AiNotebookAPI) {}

  load(projectId: number, mime: string, ref: IArtifactRef): Promise<MimeValue> {
    const kind = isBinaryMime(mime)
      ? 'b64'
      : isJsonMime(mime)
        ? 'json'
        : 'text';
    const key = `${projectId}/${ref.id}/${kind}`;
    const cached = this._cache.get(key);
    if (cached) {
      // Refresh its place in the eviction order.
      this._cache.delete(key);
      this._cache.set(key, cached);
      return cached.value;
    }
    const value = this._fetch(projectId, ref.id, kind);
    this._cache.set(key, { value, size: ref.size });
    this._bytes += ref.size;
    // A failed fetch is not cached: the next render tries again.
    value.catch(() => this._forget(key));
    this._evict();
    return value;
  }

  private async _fetch(
    projectId: number,
    sha256: string,
    kind: 'b64' | 'json' | 'text'
  ): Promise<MimeValue> {
    const response = await this._api.fetchArtifact(projectId, sha256);
    if (kind === 'b64') {
      return blobToBase64(await response.blob());
    }
    const text = await response.text();
    return kind === 'json' ? (JSON.parse(text) as MimeValue) : text;
  }

  private _forget(key: string): void {
    const entry = this._cache.get(key);
    if (entry) {
      this._cache.delete(key);
      this._bytes -= entry.size;
    }
  }

  private _evict(): void {
    for (const key of this._cache.keys()) {
      if (this._bytes <= CACHE_BYTES || this._cache.size <= 1) {
        break;
      }
      this._forget(key);
    }
  }

  private _cache = new Map<
    string,
    {
      value: Promise<MimeValue>;
      size: number;
    }
  >();
  private _bytes = 0;
}

function reasonOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Copies of stored outputs ready for rendermime: artifact data fetched back
 * into `data` (or a stream's full `text`), and a text note where it could
 * not be (too large, or the fetch failed).
 */
export async function resolveOutputs(
  loader: ArtifactLoader,
  projectId: number,
  outputs: ReadonlyArray<IStoredOutput>
): Promise<nbformat.IOutput[]> {
  return Promise.all(outputs.map(o => resolveOne(loader, projectId, o)));
}

async function resolveOne(
  loader: ArtifactLoader,
  projectId: number,
  stored: IStoredOutput
): Promise<nbformat.IOutput> {
  const { artifacts, ...rest } = stored;
  const output = rest as nbformat.IOutput;
  if (!artifacts || Object.keys(artifacts).length === 0) {
    return output;
  }

  if (output.output_type === 'stream') {
    const ref = artifacts['text/plain'];
    if (!ref) {
      return output;
    }
    const shown = joinText(output.text as nbformat.MultilineString);
    if (ref.size > MAX_STREAM_BYTES) {
      output.text = `${shown}\n[output truncated: ${formatBytes(ref.size)} in total]\n`;
      return output;
    }
    try {
      output.text = joinText(
        (await loader.load(
          projectId,
          'text/plain',
          ref
        )) as nbformat.MultilineString
      );
    } catch (err) {
      output.text = `${shown}\n[output truncated; the rest could not be loaded: ${reasonOf(err)}]\n`;
    }
    return output;
  }

  const data: nbformat.IMimeBundle = {
    ...((output.data as nbformat.IMimeBundle | undefined) ?? {})
  };
  const notes: string[] = [];
  await Promise.all(
    Object.entries(artifacts).map(async ([mime, ref]) => {
      if (ref.size > MAX_ARTIFACT_BYTES) {
        notes.push(`[${mime} output of ${formatBytes(ref.size)} not shown]`);
        return;
      }
      try {
        data[mime] = await loader.load(projectId, mime, ref);
      } catch (err) {
        notes.push(`[${mime} output could not be loaded: ${reasonOf(err)}]`);
      }
    })
  );
  if (notes.length > 0 && !('text/plain' in data)) {
    data['text/plain'] = notes.join('\n');
  }
  output.data = data;
  return output;
}

function joinText(text: nbformat.MultilineString | undefined): string {
  if (text === undefined) {
    return '';
  }
  return Array.isArray(text) ? text.join('') : text;
}

/**
 * Outputs as they stream in through events: binary data is left out of
 * events, so an output whose data became empty gets a short note until the
 * run's stored outputs replace it.
 */
export function liveOutputs(
  outputs: ReadonlyArray<IStoredOutput>
): nbformat.IOutput[] {
  return outputs.map(stored => {
    const { artifacts: _ignored, ...rest } = stored;
    const output = rest as nbformat.IOutput;
    if (
      (output.output_type === 'display_data' ||
        output.output_type === 'execute_result') &&
      Object.keys((output.data as object | undefined) ?? {}).length === 0
    ) {
      output.data = { 'text/plain': '[output shown when the run finishes]' };
      output.metadata = output.metadata ?? {};
    }
    return output;
  });
}
