/**
 * The datasets panel of a project (main area): the project's datasets with a
 * search box (the catalog across every project the user can see), uploads by
 * drag-and-drop or file picker, and the chosen dataset's detail. Follows the
 * project's event stream: new versions (uploads elsewhere, ain.save in a
 * kernel, background reads finishing) show up by themselves.
 *
 * Selectors: .ainb-ds-panel, input.ainb-ds-search,
 * .ainb-ds-item[data-dataset-id][data-name], .ainb-ds-catalog-hit.
 */
import type { ServerConnection } from '@jupyterlab/services';
import type { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { AiNotebookAPI } from '../api';
import { el, errorMessage } from '../dom';
import { ProjectEvents } from '../projectevents';
import type { IProjectEvent } from '../projectevents';
import { DatasetsClient } from './client';
import { formatCount } from './format';
import type { ICatalogHit, IDataset } from './client';
import { DatasetDetail } from './detail';
import type { DetailTab, IDetailActions } from './detail';
import { datasetIcon } from './icons';
import { UploadZone } from './upload';

const SEARCH_DELAY_MS = 250;
const RELOAD_DELAY_MS = 200;

export interface IPanelActions extends Omit<IDetailActions, 'changed'> {
  /** Open another project's datasets panel (a catalog hit). */
  openProject(projectId: number, datasetId: number): void;
}

export class DatasetsPanel extends Widget {
  constructor(
    settings: ServerConnection.ISettings,
    readonly projectId: number,
    actions: IPanelActions
  ) {
    super();
    this.id = `ainb-datasets-${projectId}`;
    this.addClass('ainb-ds-panel');
    this.title.label = 'Datasets';
    this.title.icon = datasetIcon;
    this.title.closable = true;
    this.title.caption = `Datasets of project ${projectId}`;
    this.client = new DatasetsClient(settings, projectId);
    this.api = new AiNotebookAPI(settings);
    this.actions = actions;
    this.detail = new DatasetDetail(this.client, {
      ...actions,
      changed: () => this.schedule()
    });
    this.uploads = new UploadZone(this.client, result => {
      this.schedule();
      void this.select(result.dataset.id, 'profile', true);
    });
    this.search = el('input', 'ainb-ds-search jp-mod-styled');
    this.search.type = 'search';
    this.search.placeholder = 'Search datasets, tags, columns in every project';
    this.search.setAttribute('aria-label', 'Search datasets');
    this.search.addEventListener('input', () => {
      window.clearTimeout(this.searchTimer);
      this.searchTimer = window.setTimeout(
        () => void this.render(),
        SEARCH_DELAY_MS
      );
    });
    this.list = el('div', 'ainb-ds-list');
    this.status = el('div', 'ainb-ds-status');
    const side = el('div', 'ainb-ds-side');
    side.append(this.search, this.uploads.node, this.status, this.list);
    this.node.append(side, this.detail.node);
    this.events = ProjectEvents.acquire(settings, projectId);
    this.events.received.connect(this.onEvent, this);
    this.events.connectionChanged.connect((_, state) => {
      if (state === 'open') {
        this.schedule(); // reload what a reconnect may have missed
      }
    }, this);
    void this.start();
  }

  /** Resolved once the first list is shown. */
  get ready(): Promise<void> {
    return this._ready;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    window.clearTimeout(this.searchTimer);
    window.clearTimeout(this.reloadTimer);
    this.events.received.disconnect(this.onEvent, this);
    this.events.release();
    super.dispose();
  }

  /** A closed tab is gone: its event stream is released and the restorer forgets it. */
  protected onCloseRequest(msg: Message): void {
    super.onCloseRequest(msg);
    this.dispose();
  }

  /** Show a dataset (and a tab of it). */
  async select(
    datasetId: number,
    tab?: DetailTab,
    latest = false
  ): Promise<void> {
    await this._ready;
    let d = this.datasets.find(x => x.id === datasetId);
    if (!d) {
      await this.reload();
      d = this.datasets.find(x => x.id === datasetId);
    }
    if (d) {
      this.selected = d.id;
      this.render(false);
      await this.detail.open(d, tab, latest);
    }
  }

  private async start(): Promise<void> {
    this._ready = (async () => {
      try {
        const project = await this.api.getProject(this.projectId);
        this.title.label = `Datasets · ${project.name}`;
        this.canEdit = project.role !== 'viewer';
      } catch (err) {
        this.status.textContent = errorMessage(err);
      }
      this.detail.canEdit = this.canEdit;
      this.uploads.readOnly = !this.canEdit;
      await this.reload();
    })();
    await this._ready;
  }

  private onEvent(_: ProjectEvents, event: IProjectEvent): void {
    if (event.type === 'dataset-version') {
      this.schedule();
      if (event.dataset_id === this.detail.datasetId) {
        void this.detail.reload(true);
      }
    }
  }

  private schedule(): void {
    window.clearTimeout(this.reloadTimer);
    this.reloadTimer = window.setTimeout(
      () => void this.reload(),
      RELOAD_DELAY_MS
    );
  }

  private async reload(): Promise<void> {
    try {
      this.datasets = await this.client.list();
      this.status.textContent = '';
    } catch (err) {
      this.status.textContent = errorMessage(err);
    }
    await this.render(false);
  }

  private async render(searchCatalog = true): Promise<void> {
    const q = this.search.value.trim().toLowerCase();
    const match = (d: IDataset) =>
      !q ||
      d.name.toLowerCase().includes(q) ||
      d.description.toLowerCase().includes(q) ||
      d.tags.some(t => t.toLowerCase().includes(q)) ||
      (d.latest?.columns ?? []).some(c => c.name.toLowerCase().includes(q));
    const shown = this.datasets.filter(match);
    const items: HTMLElement[] = shown.map(d => this.item(d));
    if (!this.datasets.length) {
      items.push(el('div', 'ainb-ds-empty', 'No datasets yet.'));
    } else if (!shown.length) {
      items.push(
        el('div', 'ainb-ds-empty', 'No dataset of this project matches.')
      );
    }
    this.list.replaceChildren(...items);
    if (q && searchCatalog) {
      let hits: ICatalogHit[] = [];
      try {
        hits = await this.client.catalog(q);
      } catch {
        return;
      }
      const others = hits.filter(h => h.project_id !== this.projectId);
      if (others.length && this.search.value.trim().toLowerCase() === q) {
        this.list.appendChild(
          el('h4', 'ainb-ds-catalog-title', 'In other projects')
        );
        for (const h of others) {
          this.list.appendChild(this.hit(h));
        }
      }
    }
  }

  private item(d: IDataset): HTMLElement {
    const node = el('div', 'ainb-ds-item');
    node.dataset.datasetId = String(d.id);
    node.dataset.name = d.name;
    node.tabIndex = 0;
    node.classList.toggle('ainb-mod-selected', d.id === this.selected);
    const v = d.latest;
    const meta = v
      ? `v${v.number} · ${formatCount(v.row_count)} rows · ${v.columns.length} cols`
      : 'no versions';
    const name = el('div', 'ainb-ds-item-name', d.name);
    if (v?.quality) {
      const failing = v.quality.results.filter(r => !r.passed).length;
      const dot = el(
        'span',
        `ainb-ds-dot ${failing ? 'ainb-ds-fail' : 'ainb-ds-pass'}`
      );
      dot.title = failing
        ? `${failing} quality check(s) fail`
        : 'quality checks pass';
      name.prepend(dot);
    }
    node.append(name, el('div', 'ainb-ds-item-meta', meta));
    if (d.tags.length) {
      const tags = el('div', 'ainb-ds-item-tags');
      for (const t of d.tags) {
        tags.appendChild(el('span', 'ainb-ds-tag', t));
      }
      node.appendChild(tags);
    }
    const open = () => void this.select(d.id);
    node.addEventListener('click', open);
    node.addEventListener('keydown', ev => {
      if (ev.key === 'Enter') {
        open();
      }
    });
    return node;
  }

  private hit(h: ICatalogHit): HTMLElement {
    const node = el('div', 'ainb-ds-item ainb-ds-catalog-hit');
    node.tabIndex = 0;
    node.append(
      el('div', 'ainb-ds-item-name', h.name),
      el(
        'div',
        'ainb-ds-item-meta',
        `${h.project} · ${formatCount(h.row_count)} rows · matched ${h.matched.join(', ')}`
      )
    );
    node.title = `Open the datasets of project “${h.project}”`;
    node.addEventListener('click', () =>
      this.actions.openProject(h.project_id, h.dataset_id)
    );
    return node;
  }

  private readonly client: DatasetsClient;
  private readonly api: AiNotebookAPI;
  private readonly actions: IPanelActions;
  private readonly events: ProjectEvents;
  private readonly detail: DatasetDetail;
  private readonly uploads: UploadZone;
  private readonly search: HTMLInputElement;
  private readonly list: HTMLDivElement;
  private readonly status: HTMLDivElement;
  private datasets: IDataset[] = [];
  private selected: number | null = null;
  private canEdit = false;
  private searchTimer = 0;
  private reloadTimer = 0;
  private _ready: Promise<void> = Promise.resolve();
}
