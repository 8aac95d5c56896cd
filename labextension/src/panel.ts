/**
 * The "AI Notebook" left-sidebar panel: project list, project creation, the
 * selected project's kernel bar and its blocks, whose code blocks can be run
 * (outputs rendered by JupyterLab's rendermime, live from Jupyter events).
 * Plain DOM in a Lumino widget; our own text is set with `textContent`
 * (never innerHTML); outputs go through the untrusted rendermime path.
 *
 * Stable selectors (relied on by browser tests):
 *   input.ainb-new-project-name, button.ainb-create-project, button.ainb-refresh,
 *   ul.ainb-project-list > li.ainb-project-item(.ainb-selected) > .ainb-project-name,
 *   div.ainb-kernel (see kernelbar.ts),
 *   div.ainb-block-list > div.ainb-block[data-kind] > pre.ainb-block-source
 *   (and the run controls and outputs listed in blockview.ts),
 *   .ainb-error (error line), .ainb-empty (empty states).
 */
import type { IRenderMimeRegistry } from '@jupyterlab/rendermime';
import type { Event } from '@jupyterlab/services';
import { LabIcon, refreshIcon } from '@jupyterlab/ui-components';
import { Message } from '@lumino/messaging';
import { Widget } from '@lumino/widgets';

import { AiNotebookAPI, IBlock, IProject, IUser } from './api';
import { BlockView } from './blockview';
import { el, errorMessage } from './dom';
import { parseEvent } from './events';
import { KernelBar } from './kernelbar';
import { ArtifactLoader } from './outputs';

const PROJECT_PAGE_SIZE = 50;
const BLOCK_PAGE_SIZE = 500;
/** Queued or running runs fetched when a project's blocks are shown. */
const ACTIVE_RUNS_LIMIT = 500;

export const PANEL_ID = 'ai-notebook-panel';

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

export namespace AiNotebookPanel {
  export interface IOptions {
    api: AiNotebookAPI;
    /** Renders run outputs (JupyterLab's registry). */
    rendermime: IRenderMimeRegistry;
    /** The server's event stream (run status, output chunks, kernel state). */
    events?: Event.IManager | null;
  }
}

export class AiNotebookPanel extends Widget {
  constructor(options: AiNotebookPanel.IOptions) {
    super();
    this._api = options.api;
    this._rendermime = options.rendermime;
    this._artifacts = new ArtifactLoader(options.api);
    this._events = options.events ?? null;
    this._events?.stream.connect(this._onEvent, this);
    this.id = PANEL_ID;
    this.addClass('ainb-panel');
    this.title.icon = aiNotebookIcon;
    this.title.caption = 'AI Notebook';
    this.title.label = '';
    this.title.closable = false;
    this._buildDom();
  }

  /** The project currently selected, if any. */
  get selectedProject(): IProject | null {
    return this._projects.find(p => p.id === this._selectedId) ?? null;
  }

  dispose(): void {
    if (this.isDisposed) {
      return;
    }
    this._events?.stream.disconnect(this._onEvent, this);
    for (const view of this._views.values()) {
      view.dispose();
    }
    this._views.clear();
    this._kernelBar.dispose();
    super.dispose();
  }

  /** Reload the user, the project list and the selected project's blocks. */
  async refresh(): Promise<void> {
    this._loaded = true;
    this._clearError();
    this._refreshButton.disabled = true;
    try {
      await Promise.all([this._loadUser(), this._loadProjects()]);
      if (this._selectedId !== null) {
        if (this.selectedProject) {
          this._kernelBar.setProject(this.selectedProject);
          void this._kernelBar.refresh();
          await this._loadBlocks(this._selectedId);
        } else {
          // The selected project is gone (deleted, or access revoked).
          this._selectedId = null;
          this._blocks = [];
          this._kernelBar.setProject(null);
          this._renderProjects();
          this._renderBlocks();
        }
      }
    } finally {
      this._refreshButton.disabled = false;
    }
  }

  /** Select a project and load its blocks. */
  async selectProject(id: number): Promise<void> {
    this._clearError();
    this._selectedId = id;
    this._blocks = [];
    this._blocksTotal = 0;
    // Views of the previous selection go (selecting again reloads the runs).
    this._renderBlocks();
    this._kernelBar.setProject(this.selectedProject);
    this._renderProjects();
    await this._loadBlocks(id);
  }

  /** Create a project from the name input; select it on success. */
  async createProject(): Promise<void> {
    if (this._creating) {
      return;
    }
    const name = this._nameInput.value.trim();
    this._clearError();
    if (!name) {
      this._showError('Enter a project name.');
      this._nameInput.focus();
      return;
    }
    this._creating = true;
    this._createButton.disabled = true;
    try {
      const project = await this._api.createProject(name);
      this._nameInput.value = '';
      if (!this._projects.some(p => p.id === project.id)) {
        this._projects.unshift(project);
        this._projectsTotal += 1;
      }
      await this.selectProject(project.id);
    } catch (err) {
      this._showError(errorMessage(err));
    } finally {
      this._creating = false;
      this._createButton.disabled = false;
    }
  }

  // Load lazily, the first time the panel is visible: it is attached (hidden)
  // at startup, and shown when its sidebar tab is opened or restored.
  protected onAfterAttach(msg: Message): void {
    super.onAfterAttach(msg);
    if (this.isVisible && !this._loaded) {
      void this.refresh();
    }
  }

  protected onAfterShow(msg: Message): void {
    super.onAfterShow(msg);
    if (!this._loaded) {
      void this.refresh();
    }
  }

  protected onActivateRequest(msg: Message): void {
    super.onActivateRequest(msg);
    if (this.isAttached) {
      this._nameInput.focus();
    }
  }

  // ---------------------------------------------------------------- loading

  private async _loadUser(): Promise<void> {
    try {
      this._user = await this._api.me();
    } catch (err) {
      this._user = null;
      this._showError(errorMessage(err));
    }
    this._renderUser();
  }

  private async _loadProjects(append = false): Promise<void> {
    const token = ++this._projectsToken;
    const offset = append ? this._projects.length : 0;
    this._projectsLoading = true;
    this._renderProjects();
    try {
      const page = await this._api.listProjects(PROJECT_PAGE_SIZE, offset);
      if (token !== this._projectsToken) {
        return; // superseded by a newer request
      }
      if (append) {
        const known = new Set(this._projects.map(p => p.id));
        this._projects.push(...page.items.filter(p => !known.has(p.id)));
      } else {
        this._projects = page.items;
      }
      this._projectsTotal = page.total;
      this._projectsFailed = false;
    } catch (err) {
      if (token === this._projectsToken) {
        this._projectsFailed = true;
        this._showError(errorMessage(err));
      }
    } finally {
      if (token === this._projectsToken) {
        this._projectsLoading = false;
        this._renderProjects();
      }
    }
  }

  private async _loadBlocks(projectId: number): Promise<void> {
    const token = ++this._blocksToken;
    this._blocksLoading = true;
    this._renderBlocks();
    try {
      const page = await this._api.listBlocks(projectId, BLOCK_PAGE_SIZE, 0);
      if (token !== this._blocksToken) {
        return;
      }
      this._blocks = [...page.items].sort((a, b) => a.position - b.position);
      this._blocksTotal = page.total;
      this._blocksFailed = false;
    } catch (err) {
      if (token === this._blocksToken) {
        this._blocks = [];
        this._blocksTotal = 0;
        this._blocksFailed = true;
        this._showError(errorMessage(err));
      }
    } finally {
      if (token === this._blocksToken) {
        this._blocksLoading = false;
        this._renderBlocks();
      }
    }
    if (token === this._blocksToken && !this._blocksFailed) {
      await this._loadActiveRuns(projectId, token);
    }
  }

  /**
   * Show the runs queued or running now: a block's `last_run_id` only names
   * its last finished run.
   */
  private async _loadActiveRuns(projectId: number, token: number): Promise<void> {
    try {
      const pages = await Promise.all(
        (['running', 'queued'] as const).map(status =>
          this._api.listRuns(projectId, { status, limit: ACTIVE_RUNS_LIMIT })
        )
      );
      if (token !== this._blocksToken) {
        return;
      }
      for (const run of pages.flatMap(page => page.items)) {
        const view =
          run.block_id === null ? undefined : this._views.get(run.block_id);
        view?.showRun(run);
      }
    } catch (err) {
      if (token === this._blocksToken) {
        this._showError(errorMessage(err));
      }
    }
  }

  // ---------------------------------------------------------------- errors

  /**
   * Show one error line (replacing any previous one). The `.ainb-error`
   * element's text is exactly the message; the dismiss button is a sibling.
   */
  private _showError(message: string): void {
    this._clearError();
    const line = el('div', 'ainb-error', message);
    line.setAttribute('role', 'alert');
    const dismiss = el('button', 'ainb-error-dismiss', '\u00d7');
    dismiss.type = 'button';
    dismiss.title = 'Dismiss';
    dismiss.setAttribute('aria-label', 'Dismiss error');
    dismiss.addEventListener('click', () => this._clearError());
    this._errorArea.append(line, dismiss);
    this._errorArea.hidden = false;
  }

  private _clearError(): void {
    this._errorArea.textContent = '';
    this._errorArea.hidden = true;
  }

  // ---------------------------------------------------------------- rendering

  private _buildDom(): void {
    const root = this.node;

    const header = el('div', 'ainb-header');
    header.appendChild(el('h2', 'ainb-title', 'AI Notebook'));
    this._refreshButton = el('button', 'ainb-refresh jp-Button');
    this._refreshButton.type = 'button';
    this._refreshButton.title = 'Refresh';
    this._refreshButton.setAttribute('aria-label', 'Refresh');
    refreshIcon.element({
      container: this._refreshButton,
      elementSize: 'normal'
    });
    this._refreshButton.addEventListener('click', () => void this.refresh());
    header.appendChild(this._refreshButton);
    root.appendChild(header);

    this._userLine = el('div', 'ainb-user');
    root.appendChild(this._userLine);

    this._errorArea = el('div', 'ainb-error-area');
    this._errorArea.hidden = true;
    root.appendChild(this._errorArea);

    const form = el('div', 'ainb-new-project');
    this._nameInput = el('input', 'ainb-new-project-name jp-mod-styled');
    this._nameInput.type = 'text';
    this._nameInput.placeholder = 'New project name';
    this._nameInput.setAttribute('aria-label', 'New project name');
    this._nameInput.addEventListener('keydown', event => {
      if (event.key === 'Enter') {
        event.preventDefault();
        void this.createProject();
      }
    });
    this._createButton = el(
      'button',
      'ainb-create-project jp-Button jp-mod-styled jp-mod-accept',
      'Create'
    );
    this._createButton.type = 'button';
    this._createButton.addEventListener('click', () => void this.createProject());
    form.appendChild(this._nameInput);
    form.appendChild(this._createButton);
    root.appendChild(form);

    const projectsSection = el('div', 'ainb-section ainb-projects');
    projectsSection.appendChild(el('h3', 'ainb-section-title', 'Projects'));
    this._projectList = el('ul', 'ainb-project-list');
    this._projectList.setAttribute('role', 'listbox');
    this._projectList.setAttribute('aria-label', 'Projects');
    projectsSection.appendChild(this._projectList);
    this._projectsStatus = el('div', 'ainb-status');
    projectsSection.appendChild(this._projectsStatus);
    this._loadMoreButton = el(
      'button',
      'ainb-load-more jp-Button jp-mod-styled',
      'Load more'
    );
    this._loadMoreButton.type = 'button';
    this._loadMoreButton.addEventListener('click', () => {
      this._clearError();
      void this._loadProjects(true);
    });
    projectsSection.appendChild(this._loadMoreButton);
    root.appendChild(projectsSection);

    const blocksSection = el('div', 'ainb-section ainb-blocks');
    this._blocksTitle = el('h3', 'ainb-section-title', 'Blocks');
    blocksSection.appendChild(this._blocksTitle);
    this._kernelBar = new KernelBar(this._api, message =>
      this._showError(message)
    );
    blocksSection.appendChild(this._kernelBar.node);
    this._blocksStatus = el('div', 'ainb-status');
    blocksSection.appendChild(this._blocksStatus);
    this._blockList = el('div', 'ainb-block-list');
    blocksSection.appendChild(this._blockList);
    root.appendChild(blocksSection);

    this._renderUser();
    this._renderProjects();
    this._renderBlocks();
  }

  private _renderUser(): void {
    const user = this._user;
    this._userLine.textContent = user
      ? `Signed in as ${user.display_name || user.username} (${user.role})`
      : '';
    this._userLine.hidden = !user;
  }

  private _renderProjects(): void {
    const list = this._projectList;
    list.textContent = '';
    for (const project of this._projects) {
      list.appendChild(this._renderProjectItem(project));
    }

    const status = this._projectsStatus;
    status.textContent = '';
    status.className = 'ainb-status';
    if (this._projectsLoading && this._projects.length === 0) {
      status.textContent = 'Loading projects\u2026';
      status.classList.add('ainb-loading');
    } else if (
      this._projects.length === 0 &&
      this._loaded &&
      !this._projectsFailed
    ) {
      status.textContent = 'No projects yet. Create one above.';
      status.classList.add('ainb-empty', 'ainb-projects-empty');
    } else if (this._projectsTotal > this._projects.length) {
      status.textContent = `Showing ${this._projects.length} of ${this._projectsTotal} projects`;
    }
    status.hidden = status.textContent === '';

    this._loadMoreButton.hidden = !(
      this._projectsTotal > this._projects.length && this._projects.length > 0
    );
    this._loadMoreButton.disabled = this._projectsLoading;
  }

  private _renderProjectItem(project: IProject): HTMLLIElement {
    const selected = project.id === this._selectedId;
    const item = el('li', 'ainb-project-item');
    item.dataset.projectId = String(project.id);
    item.setAttribute('role', 'option');
    item.setAttribute('aria-selected', String(selected));
    item.tabIndex = 0;
    if (selected) {
      item.classList.add('ainb-selected');
    }
    if (project.description) {
      item.title = project.description;
    }
    item.appendChild(el('span', 'ainb-project-name', project.name));
    const role = el('span', 'ainb-project-role', project.role);
    role.dataset.role = project.role;
    item.appendChild(role);
    item.addEventListener('click', () => void this.selectProject(project.id));
    item.addEventListener('keydown', event => {
      if (event.key === 'Enter' || event.key === ' ') {
        event.preventDefault();
        void this.selectProject(project.id);
      }
    });
    return item;
  }

  private _renderBlocks(): void {
    const project = this.selectedProject;
    this._blocksTitle.textContent = project
      ? `Blocks \u2014 ${project.name}`
      : 'Blocks';

    this._reconcileBlockViews(project);

    const status = this._blocksStatus;
    status.textContent = '';
    status.className = 'ainb-status';
    if (!project) {
      status.textContent = 'Select a project to see its blocks.';
      status.classList.add('ainb-empty', 'ainb-blocks-empty');
    } else if (this._blocksLoading) {
      status.textContent = 'Loading blocks\u2026';
      status.classList.add('ainb-loading');
    } else if (this._blocksFailed) {
      // The error line says why.
    } else if (this._blocks.length === 0) {
      status.textContent = 'This project has no blocks yet.';
      status.classList.add('ainb-empty', 'ainb-blocks-empty');
    } else if (this._blocksTotal > this._blocks.length) {
      status.textContent = `Showing the first ${this._blocks.length} of ${this._blocksTotal} blocks`;
    }
    status.hidden = status.textContent === '';
  }

  /**
   * Show one view per block, in order, keeping the views (and their live
   * run state) of blocks that are still there.
   */
  private _reconcileBlockViews(project: IProject | null): void {
    const canRun = project !== null && project.role !== 'viewer';
    const wanted = new Map<number, IBlock>(this._blocks.map(b => [b.id, b]));
    for (const [id, view] of this._views) {
      const block = wanted.get(id);
      if (
        !block ||
        block.project_id !== view.block.project_id ||
        block.kind !== view.block.kind // code and markdown views differ
      ) {
        view.dispose();
        view.node.remove();
        this._views.delete(id);
      }
    }
    const list = this._blockList;
    let previous: Element | null = null;
    for (const block of this._blocks) {
      let view = this._views.get(block.id);
      if (!view) {
        view = new BlockView({
          block,
          api: this._api,
          rendermime: this._rendermime,
          artifacts: this._artifacts,
          onError: message => this._showError(message),
          onRunStatus: status => this._kernelBar.noteRunStatus(status)
        });
        this._views.set(block.id, view);
      }
      // Move only nodes out of place: moving a node restarts its iframes
      // and loses its scroll position.
      const expected: Element | null = previous
        ? previous.nextElementSibling
        : list.firstElementChild;
      if (expected !== view.node) {
        list.insertBefore(view.node, expected);
      }
      view.update(block, canRun);
      previous = view.node;
    }
  }

  /** Route our server events to the selected project's views. */
  private _onEvent(_sender: Event.IManager, emission: Event.Emission): void {
    const event = parseEvent(emission);
    const project = this.selectedProject;
    if (!event || !project || event.project_id !== project.id) {
      return;
    }
    if (event.kind === 'kernel-status') {
      this._kernelBar.onEvent(event);
      return;
    }
    const view =
      event.block_id === null ? undefined : this._views.get(event.block_id);
    if (!view) {
      return;
    }
    if (event.kind === 'run-status') {
      view.onStatusEvent(event);
    } else {
      view.onOutputEvent(event);
    }
  }

  private _api: AiNotebookAPI;
  private _rendermime: IRenderMimeRegistry;
  private _artifacts: ArtifactLoader;
  private _events: Event.IManager | null;
  private _views = new Map<number, BlockView>();
  private _kernelBar!: KernelBar;
  private _user: IUser | null = null;
  private _projects: IProject[] = [];
  private _projectsTotal = 0;
  private _projectsLoading = false;
  private _projectsToken = 0;
  private _projectsFailed = false;
  private _selectedId: number | null = null;
  private _blocks: IBlock[] = [];
  private _blocksTotal = 0;
  private _blocksLoading = false;
  private _blocksToken = 0;
  private _blocksFailed = false;
  private _creating = false;
  private _loaded = false;

  private _refreshButton!: HTMLButtonElement;
  private _userLine!: HTMLDivElement;
  private _errorArea!: HTMLDivElement;
  private _nameInput!: HTMLInputElement;
  private _createButton!: HTMLButtonElement;
  private _projectList!: HTMLUListElement;
  private _projectsStatus!: HTMLDivElement;
  private _loadMoreButton!: HTMLButtonElement;
  private _blocksTitle!: HTMLHeadingElement;
  private _blocksStatus!: HTMLDivElement;
  private _blockList!: HTMLDivElement;
}
