/**
 * Keeps the browser's URL off project paths. JupyterLab puts the current
 * document's path in the URL (`/lab/tree/<path>`), and on a reload hands that
 * path to the file browser, which has no browser for the project drive and
 * fails ("Cannot open"). A project notebook comes back through the layout
 * restorer anyway, so while one is current the URL stays `/lab`.
 */
import type { ILabShell, IRouter } from '@jupyterlab/application';
import { PageConfig, URLExt } from '@jupyterlab/coreutils';

import { DRIVE_NAME } from './drive';

export function keepUrlOffDrive(shell: ILabShell, router: IRouter): void {
  shell.currentPathChanged.connect((_, change) => {
    if (!change.newValue.startsWith(`${DRIVE_NAME}:`)) {
      return;
    }
    // After JupyterLab's own handler, which put the path in the URL (unless
    // another document became current meanwhile).
    setTimeout(() => {
      if (!PageConfig.getOption('treePath').startsWith(`${DRIVE_NAME}:`)) {
        return;
      }
      const url = PageConfig.getUrl({ treePath: '' });
      router.navigate(URLExt.parse(url).pathname, { skipRouting: true });
      PageConfig.setOption('treePath', '');
    });
  });
}
