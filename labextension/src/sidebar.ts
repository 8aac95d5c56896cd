/**
 * The "AI Notebook" left-sidebar panel: the user's projects, to open (in the
 * main area), create, rename, delete and share (members).
 *
 * Stable selectors (relied on by browser tests):
 *   input.ainb-new-project-name, button.ainb-create-project, button.ainb-refresh,
 *   ul.ainb-project-list > li.ainb-project-item[data-project-id] > .ainb-project-name,
 *   buttons .ainb-project-rename / .ainb-project-delete / .ainb-project-members,
 *   .ainb-project-export, button.ainb-import-bundle,
 *   .ainb-error, .ainb-projects-empty.
 */
import { Dialog, InputDialog, showDialog } from '@jupyterlab/apputils';
import {
  LabIcon,
  deleteIcon,
  downloadIcon,
  editIcon,
  fileUploadIcon,
  refreshIcon,
  usersIcon
} from '@jupyterlab/ui-components';
import type { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import type { AiNotebookAPI, IProject, IUser } from './api';
import { chooseBundle, exportProject, importBundle } from './bundles';
import { el, errorMessage, iconButton } from './dom';
import { showMembers } from './members';

export const PANEL_ID = 'ai-notebook-panel';
const PAGE = 200;

export const aiNotebookIcon = new LabIcon({
  name: 'ai-notebook-ext:panel-icon',
  svgstr: `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <path d="M6 2h10l4 4v14a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V4a2 2 0 0 1 2-2zm0 2v16h12V7h-3V4H6z"/>
    <path d="M12 8.5l1.1 2.4 2.4 1.1-2.4 1.1L12 15.5l-1.1-2.4L8.5 12l2.4-1.1z"/>
    <path d="M8 17h8v1.5H8z"/>
  </g>
</svg>`
});

export class ProjectsSidebar extends Widget {
  constructor(
    private readonly api: AiNotebookAPI,
    private readonly openProject: (projectId: number) => void
  ) {
    super();
    this.id = PANEL_ID;
    this.addClass('ainb-panel');
    this.title.icon = aiNotebookIcon;
    this.title.caption = 'AI Notebook projects';
    this.build();
  }

  get projects(): readonly IProject[] {
    return this._projects;
  }

  async refresh(): Promise<void> {
    this._loaded = true;
    this.clearError();
    try {
      const [me, page] = await Promise.all([
        this.api.me(),
        this.api.listProjects(PAGE, 0)
      ]);
      this._user = me;
      this._projects = page.items;
    } catch (err) {
      this.showError(errorMessage(err));
    }
    this.render();
  }

  async createProject(): Promise<void> {
    const name = this._name.value.trim();
    if (!name) {
      this.showError('Give the project a name first.');
      return;
    }
    this._create.disabled = true;
    try {
      const project = await this.api.createProject(name);
      this._name.value = '';
      await this.refresh();
      this.openProject(project.id);
    } catch (err) {
      this.showError(errorMessage(err));
    } finally {
      this._create.disabled = false;
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (!this._loaded) {
      void this.refresh();
    }
  }

  private build(): void {
    const header = el('div', 'ainb-header');
    header.appendChild(el('h2', 'ainb-title', 'AI Notebook'));
    const refresh = iconButton('ainb-refresh', 'Refresh', refreshIcon);
    refresh.addEventListener('click', () => void this.refresh());
    header.appendChild(refresh);
    const upload = iconButton(
      'ainb-import-bundle',
      'Import a project bundle',
      fileUploadIcon
    );
    upload.addEventListener('click', () => void this.importBundle());
    header.appendChild(upload);
    this._userLine = el('div', 'ainb-user');
    this._errorArea = el('div', 'ainb-error-area');
    this._errorArea.hidden = true;

    const form = el('div', 'ainb-new-project');
    this._name = el('input', 'ainb-new-project-name jp-mod-styled');
    this._name.placeholder = 'New project name';
    this._name.setAttribute('aria-label', 'New project name');
    this._name.addEventListener('keydown', e => {
      if (e.key === 'Enter') {
        e.preventDefault();
        void this.createProject();
      }
    });
    this._create = el(
      'button',
      'ainb-create-project jp-Button jp-mod-styled jp-mod-accept',
      'Create'
    );
    this._create.addEventListener('click', () => void this.createProject());
    form.append(this._name, this._create);

    this._list = el('ul', 'ainb-project-list');
    this._list.setAttribute('aria-label', 'Projects');
    this._status = el('div', 'ainb-status');
    this.node.append(
      header,
      this._userLine,
      this._errorArea,
      form,
      this._list,
      this._status
    );
  }

  private render(): void {
    const user = this._user;
    this._userLine.textContent = user
      ? `Signed in as ${user.display_name || user.username}`
      : '';
    this._list.textContent = '';
    for (const project of this._projects) {
      this._list.appendChild(this.item(project));
    }
    this._status.className = 'ainb-status';
    this._status.textContent = '';
    if (this._projects.length === 0) {
      this._status.textContent =
        'No projects yet. Name one above and press Create.';
      this._status.classList.add('ainb-empty', 'ainb-projects-empty');
    }
  }

  private item(project: IProject): HTMLLIElement {
    const item = el('li', 'ainb-project-item');
    item.dataset.projectId = String(project.id);
    item.tabIndex = 0;
    item.title = project.description || `Open “${project.name}”`;
    const name = el('span', 'ainb-project-name', project.name);
    const role = el('span', 'ainb-project-role', project.role);
    role.dataset.role = project.role;
    const actions = el('span', 'ainb-project-actions');
    const members = iconButton('ainb-project-members', 'Members', usersIcon);
    members.addEventListener('click', e => {
      e.stopPropagation();
      void showMembers(this.api, project).then(() => this.refresh());
    });
    actions.appendChild(members);
    const download = iconButton(
      'ainb-project-export',
      'Export project (bundle)',
      downloadIcon
    );
    download.addEventListener('click', e => {
      e.stopPropagation();
      exportProject(this.api, project).catch(err =>
        this.showError(errorMessage(err))
      );
    });
    actions.appendChild(download);
    if (project.role !== 'viewer') {
      const rename = iconButton('ainb-project-rename', 'Rename', editIcon);
      rename.addEventListener('click', e => {
        e.stopPropagation();
        void this.rename(project);
      });
      actions.appendChild(rename);
    }
    if (project.role === 'owner') {
      const remove = iconButton('ainb-project-delete', 'Delete', deleteIcon);
      remove.addEventListener('click', e => {
        e.stopPropagation();
        void this.remove(project);
      });
      actions.appendChild(remove);
    }
    item.append(name, role, actions);
    item.addEventListener('click', () => this.openProject(project.id));
    item.addEventListener('keydown', e => {
      if (e.key === 'Enter') {
        this.openProject(project.id);
      }
    });
    return item;
  }

  private async importBundle(): Promise<void> {
    const file = await chooseBundle();
    if (!file) {
      return;
    }
    this.clearError();
    try {
      const project = await importBundle(this.api, file);
      await this.refresh();
      this.openProject(project.id);
    } catch (err) {
      this.showError(errorMessage(err));
    }
  }

  private async rename(project: IProject): Promise<void> {
    const result = await InputDialog.getText({
      title: 'Rename project',
      text: project.name,
      okLabel: 'Rename'
    });
    if (!result.button.accept || !result.value?.trim()) {
      return;
    }
    try {
      await this.api.updateProject(project.id, { name: result.value.trim() });
      await this.refresh();
    } catch (err) {
      this.showError(errorMessage(err));
    }
  }

  private async remove(project: IProject): Promise<void> {
    const result = await showDialog({
      title: 'Delete project',
      body: `Delete “${project.name}” with all its blocks, runs and datasets? This cannot be undone.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!result.button.accept) {
      return;
    }
    try {
      await this.api.deleteProject(project.id);
      await this.refresh();
    } catch (err) {
      this.showError(errorMessage(err));
    }
  }

  private showError(message: string): void {
    this._errorArea.textContent = '';
    const line = el('div', 'ainb-error', message);
    line.setAttribute('role', 'alert');
    this._errorArea.appendChild(line);
    this._errorArea.hidden = false;
  }

  private clearError(): void {
    this._errorArea.textContent = '';
    this._errorArea.hidden = true;
  }

  private _loaded = false;
  private _user: IUser | null = null;
  private _projects: IProject[] = [];
  private _name!: HTMLInputElement;
  private _create!: HTMLButtonElement;
  private _list!: HTMLUListElement;
  private _status!: HTMLDivElement;
  private _userLine!: HTMLDivElement;
  private _errorArea!: HTMLDivElement;
}
