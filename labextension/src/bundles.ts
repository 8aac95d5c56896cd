/**
 * Project bundles in the sidebar: "Export project" saves a project's bundle
 * (a zip) as a file; "Import bundle" sends a chosen bundle file to the server,
 * which makes it a new project of the user.
 */
import type { AiNotebookAPI, IProject } from './api';

/** The file name a Content-Disposition header gives, else a fallback. */
function attachmentName(header: string | null, fallback: string): string {
  const utf8 = /filename\*=UTF-8''([^;]+)/i.exec(header ?? '');
  if (utf8) {
    try {
      return decodeURIComponent(utf8[1]);
    } catch {
      // a malformed name: use the plain one
    }
  }
  const plain = /filename="([^"]+)"/i.exec(header ?? '');
  return plain ? plain[1] : fallback;
}

/** Download a project's bundle through the browser's save mechanism. */
export async function exportProject(
  api: AiNotebookAPI,
  project: IProject
): Promise<void> {
  const response = await api.exportBundle(project.id);
  const blob = await response.blob();
  const name = attachmentName(
    response.headers.get('Content-Disposition'),
    'project.ainb.zip'
  );
  const url = URL.createObjectURL(blob);
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.appendChild(link);
  link.click();
  link.remove();
  window.setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Ask for a bundle file; resolves with the chosen file, or null. */
export function chooseBundle(): Promise<File | null> {
  return new Promise(resolve => {
    const input = document.createElement('input');
    input.type = 'file';
    input.accept = '.zip,application/zip';
    input.className = 'ainb-bundle-input';
    input.hidden = true;
    input.addEventListener('change', () => {
      resolve(input.files?.[0] ?? null);
      input.remove();
    });
    input.addEventListener('cancel', () => {
      resolve(null);
      input.remove();
    });
    document.body.appendChild(input);
    input.click();
  });
}

/** Import a bundle file as a new project; the project the server made. */
export function importBundle(
  api: AiNotebookAPI,
  file: Blob
): Promise<IProject> {
  return api.importBundle(file);
}
