/**
 * The datasets REST API of one project (`projects/{id}/datasets/...`) and the
 * catalog, typed; the upload goes through XMLHttpRequest for its progress
 * events (fetch has none for request bodies), with the same authentication
 * headers as `ServerConnection.makeRequest`.
 */
import { URLExt } from '@jupyterlab/coreutils';
import type { ServerConnection } from '@jupyterlab/services';

import { API_PREFIX, ApiError, CLIENT_ID, requestAPI } from '../api';

export type VersionStatus = 'ready' | 'processing' | 'broken';

export interface IColumn {
  name: string;
  type: string;
}

export interface IRuleResult {
  rule_id: number | null;
  kind: string;
  column: string | null;
  passed: boolean;
  failing_rows: number | null;
  sample?: unknown[];
  message: string;
}

export interface IQuality {
  passed: boolean;
  results: IRuleResult[];
  created_at: string;
}

export interface IVersion {
  id: number;
  number: number;
  parent: number | null;
  blob: string;
  size: number;
  format: string;
  row_count: number | null;
  columns: IColumn[];
  source: 'upload' | 'register' | 'kernel';
  status: VersionStatus;
  problem: string;
  filename: string;
  created_by: string | null;
  created_at: string;
  quality?: IQuality | null;
}

export interface IDataset {
  id: number;
  project_id: number;
  name: string;
  description: string;
  tags: string[];
  created_at: string;
  updated_at: string;
  latest: IVersion | null;
}

export interface IUploadResult {
  dataset: IDataset;
  version: IVersion;
  created: boolean;
}

export interface ISchemaDiff {
  base: number;
  other: number;
  added: IColumn[];
  removed: IColumn[];
  changed: Array<{ name: string; before: string; after: string }>;
  row_count_change: number | null;
}

export type RuleKind =
  | 'not_null'
  | 'unique'
  | 'range'
  | 'allowed_values'
  | 'regex'
  | 'row_count'
  | 'sql';

export interface IRuleIn {
  kind: RuleKind;
  column?: string | null;
  params: Record<string, unknown>;
}

export interface IRule extends IRuleIn {
  id: number;
  column: string | null;
  created_at: string;
}

export interface IHistogram {
  edges: number[];
  counts: number[];
}

export interface IColumnProfile {
  name: string;
  type: string;
  kind: 'numeric' | 'datetime' | 'boolean' | 'text';
  count: number;
  nulls: number;
  null_pct: number;
  distinct: number;
  min?: number | string;
  max?: number | string;
  mean?: number;
  std?: number;
  p25?: number;
  p50?: number;
  p75?: number;
  min_length?: number;
  max_length?: number;
  histogram?: IHistogram;
  top?: Array<{ value: string; count: number }>;
}

export interface IProfile {
  row_count: number;
  column_count: number;
  duplicate_rows: number;
  columns: IColumnProfile[];
}

export interface ILineageRun {
  run_id: number;
  block_id: number | null;
  status: string;
  direction: 'read' | 'write';
  version: number;
  dataset: string;
  created_at: string;
}

export interface ILineageOther {
  run_id: number;
  dataset_id: number;
  dataset: string;
  version: number;
}

export interface ILineage {
  dataset_id: number;
  runs: ILineageRun[];
  upstream: ILineageOther[];
  downstream: ILineageOther[];
}

export interface ICatalogHit {
  project_id: number;
  project: string;
  dataset_id: number;
  name: string;
  description: string;
  tags: string[];
  matched: string[];
  columns: string[];
  row_count: number | null;
}

export type ReportStatus = 'queued' | 'running' | 'done' | 'failed';

export interface IReport {
  id: number;
  version: number;
  status: ReportStatus;
  progress: number;
  message: string;
  sampled_rows: number | null;
  created_at: string;
  finished_at: string | null;
}

/** An upload in flight: its result, and how to stop it. */
export interface IUpload {
  done: Promise<IUploadResult>;
  cancel(): void;
}

export interface IUploadOptions {
  background?: boolean;
  /** Bytes sent and total, as the browser reports them. */
  onProgress?: (loaded: number, total: number) => void;
  /** Every byte is sent; the server reads, profiles and checks the file. */
  onSent?: () => void;
}

export class DatasetsClient {
  constructor(
    readonly settings: ServerConnection.ISettings,
    readonly projectId: number
  ) {}

  private req<T>(
    path: Array<string | number>,
    method = 'GET',
    body?: unknown,
    query?: Record<string, string | number>
  ): Promise<T> {
    return requestAPI<T>(
      this.settings,
      ['projects', this.projectId, 'datasets', ...path],
      { method, body, query }
    );
  }

  list(): Promise<IDataset[]> {
    return this.req<{ items: IDataset[] }>([]).then(r => r.items);
  }

  get(datasetId: number): Promise<IDataset> {
    return this.req<IDataset>([datasetId]);
  }

  update(
    datasetId: number,
    change: { description?: string; tags?: string[] }
  ): Promise<IDataset> {
    return this.req<IDataset>([datasetId], 'PATCH', change);
  }

  remove(datasetId: number): Promise<void> {
    return this.req<void>([datasetId], 'DELETE');
  }

  versions(datasetId: number): Promise<IVersion[]> {
    return this.req<{ items: IVersion[] }>([datasetId, 'versions']).then(
      r => r.items
    );
  }

  version(datasetId: number, n: number): Promise<IVersion> {
    return this.req<IVersion>([datasetId, 'versions', n]);
  }

  removeVersion(datasetId: number, n: number): Promise<void> {
    return this.req<void>([datasetId, 'versions', n], 'DELETE');
  }

  diff(datasetId: number, base: number, other: number): Promise<ISchemaDiff> {
    return this.req<ISchemaDiff>([datasetId, 'diff'], 'GET', undefined, {
      base,
      other
    });
  }

  profile(datasetId: number, n: number): Promise<IProfile> {
    return this.req<IProfile>([datasetId, 'versions', n, 'profile']);
  }

  check(datasetId: number, n: number): Promise<IQuality> {
    return this.req<IQuality>([datasetId, 'versions', n, 'quality'], 'POST');
  }

  rules(datasetId: number): Promise<IRule[]> {
    return this.req<{ items: IRule[] }>([datasetId, 'rules']).then(
      r => r.items
    );
  }

  addRule(datasetId: number, rule: IRuleIn): Promise<IRule> {
    return this.req<IRule>([datasetId, 'rules'], 'POST', rule);
  }

  updateRule(datasetId: number, ruleId: number, rule: IRuleIn): Promise<IRule> {
    return this.req<IRule>([datasetId, 'rules', ruleId], 'PUT', rule);
  }

  removeRule(datasetId: number, ruleId: number): Promise<void> {
    return this.req<void>([datasetId, 'rules', ruleId], 'DELETE');
  }

  /** The first line of each block's code, by block id (for lineage labels). */
  async blockTitles(): Promise<Map<number, string>> {
    const page = await requestAPI<{
      items: Array<{ id: number; source: string }>;
    }>(this.settings, ['projects', this.projectId, 'blocks'], {
      query: { limit: 500 }
    });
    return new Map(
      page.items.map(b => [
        b.id,
        b.source.split('\n').find(l => l.trim()) ?? ''
      ])
    );
  }

  lineage(datasetId: number): Promise<ILineage> {
    return this.req<ILineage>([datasetId, 'lineage']);
  }

  startReport(datasetId: number, n: number): Promise<IReport> {
    return this.req<IReport>([datasetId, 'versions', n, 'report'], 'POST');
  }

  report(datasetId: number, reportId: number): Promise<IReport> {
    return this.req<IReport>([datasetId, 'reports', reportId]);
  }

  /** The URL of a finished report's HTML (cookie-authenticated, for an iframe). */
  reportUrl(datasetId: number, reportId: number): string {
    return URLExt.join(
      this.settings.baseUrl,
      API_PREFIX,
      'projects',
      String(this.projectId),
      'datasets',
      String(datasetId),
      'reports',
      String(reportId),
      'html'
    );
  }

  catalog(q: string): Promise<ICatalogHit[]> {
    return requestAPI<{ items: ICatalogHit[] }>(this.settings, ['datasets'], {
      query: { q, limit: 100 }
    }).then(r => r.items);
  }

  /** Stream a file as a new dataset (or a new version of `name`). */
  upload(
    name: string,
    file: Blob,
    filename: string,
    options: IUploadOptions = {}
  ): IUpload {
    const params: Record<string, string> = { name, filename };
    if (options.background) {
      params.background = 'true';
    }
    const url =
      URLExt.join(
        this.settings.baseUrl,
        API_PREFIX,
        'projects',
        String(this.projectId),
        'datasets',
        'upload'
      ) + URLExt.objectToQueryString(params);
    const xhr = new XMLHttpRequest();
    const done = new Promise<IUploadResult>((resolve, reject) => {
      xhr.open('POST', url);
      xhr.setRequestHeader('X-AINB-Client', CLIENT_ID);
      xhr.setRequestHeader('Content-Type', 'application/octet-stream');
      if (this.settings.token) {
        xhr.setRequestHeader('Authorization', `token ${this.settings.token}`);
      }
      const xsrf = cookie('_xsrf');
      if (xsrf !== undefined) {
        xhr.setRequestHeader('X-XSRFToken', xsrf);
      }
      xhr.upload.onprogress = ev =>
        options.onProgress?.(ev.loaded, ev.lengthComputable ? ev.total : 0);
      xhr.upload.onload = () => options.onSent?.();
      xhr.onerror = () =>
        reject(
          new ApiError('The upload failed: network error', 0, 'network_error')
        );
      xhr.onabort = () =>
        reject(new ApiError('Upload cancelled', 0, 'cancelled'));
      xhr.onload = () => {
        let body: { error?: { message?: string; code?: string } } = {};
        try {
          body = JSON.parse(xhr.responseText);
        } catch {
          // not JSON: the status line says it
        }
        if (xhr.status >= 200 && xhr.status < 300) {
          resolve(body as unknown as IUploadResult);
        } else {
          reject(
            new ApiError(
              body.error?.message ||
                `Upload failed: ${xhr.status} ${xhr.statusText}`,
              xhr.status,
              body.error?.code ?? 'http_error'
            )
          );
        }
      };
      xhr.send(file);
    });
    return { done, cancel: () => xhr.abort() };
  }
}

function cookie(name: string): string | undefined {
  let value: string | undefined;
  for (const part of document.cookie.split(';')) {
    const trimmed = part.trim();
    if (trimmed.startsWith(name + '=')) {
      value = trimmed.substring(name.length + 1); // the last one wins, as in tornado
    }
  }
  return value;
}
