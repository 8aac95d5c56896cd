/**
 * The members part of the REST API: who has which role on a project
 * (owners add people, change roles and remove members).
 */
import type { AiNotebookAPI, IPage, ProjectRole } from './api';
import { requestAPI } from './api';

export interface IMember {
  username: string;
  display_name?: string;
  role: ProjectRole;
}

export function listMembers(
  api: AiNotebookAPI,
  projectId: number
): Promise<IPage<IMember>> {
  return requestAPI<IPage<IMember>>(api.settings, [
    'projects',
    projectId,
    'members'
  ]);
}

export function addMember(
  api: AiNotebookAPI,
  projectId: number,
  username: string,
  role: ProjectRole
): Promise<IMember> {
  return requestAPI<IMember>(api.settings, ['projects', projectId, 'members'], {
    method: 'POST',
    body: { username, role }
  });
}

export function setMemberRole(
  api: AiNotebookAPI,
  projectId: number,
  username: string,
  role: ProjectRole
): Promise<IMember> {
  return requestAPI<IMember>(
    api.settings,
    ['projects', projectId, 'members', username],
    { method: 'PATCH', body: { role } }
  );
}

export function removeMember(
  api: AiNotebookAPI,
  projectId: number,
  username: string
): Promise<void> {
  return requestAPI<void>(
    api.settings,
    ['projects', projectId, 'members', username],
    { method: 'DELETE' }
  );
}
