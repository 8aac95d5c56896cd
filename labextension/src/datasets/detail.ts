/**
 * One dataset in the panel: its name, description and tags (edited in place
 * by editors), the actions (insert a loading block, full report, delete), and
 * the Profile / Versions / Quality / Lineage tabs of a chosen version.
 *
 * Selectors: .ainb-ds-detail[data-dataset-id], .ainb-ds-title,
 * textarea.ainb-ds-description, input.ainb-ds-tags, button.ainb-ds-insert,
 * button.ainb-ds-report-open, button.ainb-ds-delete,
 * .ainb-ds-tab[data-tab=profile|versions|quality|lineage].
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';

import { el, errorMessage } from '../dom';
import type { DatasetsClient, IDataset, IVersion } from './client';
import { formatBytes, formatCount } from './format';
import { LineageView } from './lineage';
import { ProfileView } from './profile';
import { QualityView } from './quality';
import { VersionsView } from './versions';
import { loadingCode } from './loading';

export type DetailTab = 'profile' | 'versions' | 'quality' | 'lineage';

export interface IDetailActions {
  insert(name: string): void;
  report(datasetId: number, version: number, name: string): void;
  openBlock(blockId: number): void;
  /** The dataset changed or went (the list reloads). */
  changed(): void;
}

function button(
  className: string,
  label: string,
  title: string
): HTMLButtonElement {
  const b = el('button', `${className} jp-mod-styled jp-Button`, label);
  b.type = 'button';
  b.title = title;
  return b;
}

export class DatasetDetail {
  readonly node = el('div', 'ainb-ds-detail');

  constructor(
    private readonly client: DatasetsClient,
    private readonly actions: IDetailActions
  ) {
    this.profile = new ProfileView(client);
    this.versionsView = new VersionsView(client, {
      select: v => this.pick(v),
      deleted: () => {
        this.actions.changed();
        void this.reload();
      }
    });
    this.quality = new QualityView(client, () => void this.reloadVersions());
    this.lineage = new LineageView(client, actions.openBlock);
    this.node.appendChild(
      el('div', 'ainb-ds-empty', 'Pick a dataset, or drop a file on the left.')
    );
  }

  get datasetId(): number | null {
    return this.dataset?.id ?? null;
  }

  set canEdit(value: boolean) {
    this._canEdit = value;
  }

  /** Show a dataset: the version shown so far if the same, else (or with `latest`) the newest. */
  async open(
    dataset: IDataset,
    tab?: DetailTab,
    latest = false
  ): Promise<void> {
    const same = this.dataset?.id === dataset.id;
    this.dataset = dataset;
    if (tab) {
      this.tab = tab;
    }
    if (!same || latest) {
      this.current = null;
    }
    this.build();
    await this.reloadVersions();
  }

  /** Load the dataset and its versions again (after an event or a change); `latest`
   * shows the newest version. */
  async reload(latest = false): Promise<void> {
    if (!this.dataset) {
      return;
    }
    if (latest) {
      this.current = null;
    }
    try {
      this.dataset = await this.client.get(this.dataset.id);
    } catch {
      this.dataset = null;
      this.node.replaceChildren(
        el('div', 'ainb-ds-empty', 'This dataset was deleted.')
      );
      return;
    }
    this.build();
    await this.reloadVersions();
  }

  private async reloadVersions(): Promise<void> {
    const d = this.dataset;
    if (!d) {
      return;
    }
    try {
      this.versions = await this.client.versions(d.id);
    } catch (err) {
      this.body.replaceChildren(el('div', 'ainb-ds-error', errorMessage(err)));
      return;
    }
    const keep = this.versions.find(v => v.number === this.current?.number);
    this.pick(keep ?? this.versions[0] ?? null);
  }

  private pick(v: IVersion | null): void {
    this.current = v;
    const d = this.dataset!;
    this.versionLabel.textContent = v
      ? `v${v.number} · ${formatCount(v.row_count)} rows × ${v.columns.length} columns · ${formatBytes(v.size)}` +
        (v.status !== 'ready' ? ` · ${v.status}` : '')
      : 'no versions';
    this.versionLabel.title = v?.problem ?? '';
    this.reportButton.disabled = !v || v.status !== 'ready';
    this.versionsView.render(
      d.id,
      this.versions,
      v?.number ?? null,
      this._canEdit
    );
    this.showTab();
  }

  private showTab(): void {
    const d = this.dataset!;
    const v = this.current;
    for (const t of this.tabs.querySelectorAll<HTMLElement>('.ainb-ds-tab')) {
      t.classList.toggle('ainb-mod-active', t.dataset.tab === this.tab);
      t.setAttribute('aria-selected', String(t.dataset.tab === this.tab));
    }
    if (this.tab === 'profile') {
      if (v && v.status === 'ready') {
        void this.profile.show(d.id, v.number);
      } else {
        this.profile.clear(
          v ? `v${v.number} is ${v.status}. ${v.problem}` : 'No versions.'
        );
      }
      this.body.replaceChildren(this.profile.node);
    } else if (this.tab === 'versions') {
      this.body.replaceChildren(this.versionsView.node);
    } else if (this.tab === 'quality') {
      void this.quality.show(d.id, v, this._canEdit);
      this.body.replaceChildren(this.quality.node);
    } else {
      void this.lineage.show(d.id, d.name);
      this.body.replaceChildren(this.lineage.node);
    }
  }

  private build(): void {
    const d = this.dataset!;
    this.node.dataset.datasetId = String(d.id);
    const head = el('div', 'ainb-ds-head');
    const title = el('h2', 'ainb-ds-title', d.name);
    const actions = el('div', 'ainb-ds-actions');
    const insert = button(
      'ainb-ds-insert',
      'Insert loading block',
      `Add ${loadingCode(d.name)} to the project at the active cell`
    );
    insert.addEventListener('click', () => this.actions.insert(d.name));
    this.reportButton = button(
      'ainb-ds-report-open',
      'Full report',
      'Open the full profile report of this version in a tab'
    );
    this.reportButton.addEventListener('click', () => {
      if (this.current) {
        this.actions.report(d.id, this.current.number, d.name);
      }
    });
    if (this._canEdit) {
      actions.appendChild(insert); // a viewer's notebook saves no new block
    }
    actions.appendChild(this.reportButton);
    if (this._canEdit) {
      const del = button(
        'ainb-ds-delete',
        'Delete',
        'Delete this dataset and its versions'
      );
      del.addEventListener('click', () => void this.remove());
      actions.appendChild(del);
    }
    head.append(title, actions);

    const description = el('textarea', 'ainb-ds-description jp-mod-styled');
    description.value = d.description;
    description.placeholder = this._canEdit ? 'Describe this dataset…' : '';
    description.readOnly = !this._canEdit;
    description.rows = 2;
    description.setAttribute('aria-label', 'Description');
    description.addEventListener(
      'change',
      () => void this.save({ description: description.value })
    );
    const tags = el('input', 'ainb-ds-tags jp-mod-styled');
    tags.value = d.tags.join(', ');
    tags.placeholder = this._canEdit ? 'tags, comma separated' : 'no tags';
    tags.readOnly = !this._canEdit;
    tags.setAttribute('aria-label', 'Tags');
    tags.addEventListener(
      'change',
      () =>
        void this.save({
          tags: tags.value
            .split(',')
            .map(t => t.trim())
            .filter(Boolean)
        })
    );
    this.versionLabel = el('div', 'ainb-ds-version-label');
    this.tabs = el('div', 'ainb-ds-tabs');
    this.tabs.setAttribute('role', 'tablist');
    for (const [tab, label] of [
      ['profile', 'Profile'],
      ['versions', 'Versions'],
      ['quality', 'Quality'],
      ['lineage', 'Lineage']
    ] as Array<[DetailTab, string]>) {
      const t = button('ainb-ds-tab', label, label);
      t.dataset.tab = tab;
      t.setAttribute('role', 'tab');
      t.addEventListener('click', () => {
        this.tab = tab;
        this.showTab();
      });
      this.tabs.appendChild(t);
    }
    this.body = el('div', 'ainb-ds-tab-body');
    this.node.replaceChildren(
      head,
      description,
      tags,
      this.versionLabel,
      this.tabs,
      this.body
    );
  }

  private async save(change: {
    description?: string;
    tags?: string[];
  }): Promise<void> {
    if (!this.dataset) {
      return;
    }
    try {
      this.dataset = await this.client.update(this.dataset.id, change);
      this.actions.changed();
    } catch (err) {
      void showDialog({
        title: 'Not saved',
        body: errorMessage(err),
        buttons: [Dialog.okButton()]
      });
    }
  }

  private async remove(): Promise<void> {
    const d = this.dataset;
    if (!d) {
      return;
    }
    const answer = await showDialog({
      title: `Delete dataset “${d.name}”?`,
      body: `Its ${this.versions.length} version(s), rules and results go. Blocks that load it will fail.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await this.client.remove(d.id);
      this.dataset = null;
      this.node.replaceChildren(
        el('div', 'ainb-ds-empty', `“${d.name}” was deleted.`)
      );
      this.actions.changed();
    } catch (err) {
      void showDialog({
        title: 'Not deleted',
        body: errorMessage(err),
        buttons: [Dialog.okButton()]
      });
    }
  }

  private readonly profile: ProfileView;
  private readonly versionsView: VersionsView;
  private readonly quality: QualityView;
  private readonly lineage: LineageView;
  private dataset: IDataset | null = null;
  private versions: IVersion[] = [];
  private current: IVersion | null = null;
  private tab: DetailTab = 'profile';
  private _canEdit = false;
  private body = el('div');
  private tabs = el('div');
  private versionLabel = el('div');
  private reportButton = el('button');
}
