/**
 * The members dialog of a project: who has which role; owners add people,
 * change roles and remove members (the server enforces the rules, e.g. the
 * last owner stays).
 */
import { Dialog, showDialog } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import type { AiNotebookAPI, IProject, ProjectRole } from './api';
import type { IMember } from './membersapi';
import {
  addMember,
  listMembers,
  removeMember,
  setMemberRole
} from './membersapi';
import { el, errorMessage } from './dom';

const ROLES: ProjectRole[] = ['viewer', 'editor', 'owner'];

function roleSelect(value: ProjectRole, className: string): HTMLSelectElement {
  const select = el('select', `${className} jp-mod-styled`);
  for (const role of ROLES) {
    const option = el('option', undefined, role);
    option.value = role;
    option.selected = role === value;
    select.appendChild(option);
  }
  return select;
}

class MembersBody extends Widget {
  constructor(
    private readonly api: AiNotebookAPI,
    private readonly project: IProject
  ) {
    super();
    this.addClass('ainb-members');
    this._list = el('ul', 'ainb-member-list');
    this._error = el('div', 'ainb-error');
    this._error.hidden = true;
    this.node.append(this._list, this._error);
    if (project.role === 'owner') {
      const form = el('div', 'ainb-member-add');
      const name = el('input', 'ainb-member-username jp-mod-styled');
      name.placeholder = 'username';
      const role = roleSelect('editor', 'ainb-member-new-role');
      const add = el(
        'button',
        'ainb-member-add-button jp-Button jp-mod-styled jp-mod-accept',
        'Add'
      );
      add.addEventListener(
        'click',
        () =>
          void this.act(() =>
            addMember(
              this.api,
              project.id,
              name.value.trim(),
              role.value as ProjectRole
            )
          ).then(() => (name.value = ''))
      );
      form.append(name, role, add);
      this.node.appendChild(form);
    }
    void this.load();
  }

  private async act(call: () => Promise<unknown>): Promise<void> {
    this._error.hidden = true;
    try {
      await call();
    } catch (err) {
      this._error.textContent = errorMessage(err);
      this._error.hidden = false;
    }
    await this.load();
  }

  private async load(): Promise<void> {
    try {
      const page = await listMembers(this.api, this.project.id);
      this.render(page.items);
    } catch (err) {
      this._error.textContent = errorMessage(err);
      this._error.hidden = false;
    }
  }

  private render(members: IMember[]): void {
    this._list.textContent = '';
    const owner = this.project.role === 'owner';
    for (const member of members) {
      const item = el('li', 'ainb-member');
      item.dataset.username = member.username;
      item.appendChild(
        el('span', 'ainb-member-name', member.display_name || member.username)
      );
      if (owner) {
        const role = roleSelect(member.role, 'ainb-member-role');
        role.addEventListener(
          'change',
          () =>
            void this.act(() =>
              setMemberRole(
                this.api,
                this.project.id,
                member.username,
                role.value as ProjectRole
              )
            )
        );
        const remove = el(
          'button',
          'ainb-member-remove jp-Button jp-mod-styled',
          'Remove'
        );
        remove.addEventListener(
          'click',
          () =>
            void this.act(() =>
              removeMember(this.api, this.project.id, member.username)
            )
        );
        item.append(role, remove);
      } else {
        item.appendChild(el('span', 'ainb-member-role', member.role));
      }
      this._list.appendChild(item);
    }
  }

  private _list: HTMLUListElement;
  private _error: HTMLDivElement;
}

export async function showMembers(
  api: AiNotebookAPI,
  project: IProject
): Promise<void> {
  await showDialog({
    title: `Members of “${project.name}”`,
    body: new MembersBody(api, project),
    buttons: [Dialog.okButton({ label: 'Close' })]
  });
}
