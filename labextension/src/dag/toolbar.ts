/**
 * The DAG view's toolbar: refresh, fit, run all, run stale, a status line
 * and a legend of the two edge kinds. Buttons carry `ainb-dag-<name>` classes
 * (stable selectors: .ainb-dag-refresh, .ainb-dag-fit, .ainb-dag-run-all,
 * .ainb-dag-run-stale).
 */
import {
  Toolbar,
  ToolbarButton,
  fastForwardIcon,
  refreshIcon,
  runIcon
} from '@jupyterlab/ui-components';
import { Widget } from '@lumino/widgets';

import { el } from '../dom';
import { fitIcon } from './icons';

export interface IToolbarActions {
  refresh(): void;
  fit(): void;
  runAll(): void;
  runStale(): void;
}

/** The toolbar and its status line (`.ainb-dag-status`). */
export function createDagToolbar(actions: IToolbarActions): {
  toolbar: Toolbar;
  status: HTMLElement;
} {
  const toolbar = new Toolbar();
  toolbar.addClass('ainb-dag-toolbar');
  const button = (
    name: string,
    props: ConstructorParameters<typeof ToolbarButton>[0]
  ): void => {
    toolbar.addItem(
      name,
      new ToolbarButton({ className: `ainb-dag-${name}`, ...props })
    );
  };
  button('refresh', {
    icon: refreshIcon,
    tooltip: 'Reload the DAG',
    onClick: () => actions.refresh()
  });
  button('fit', {
    icon: fitIcon,
    tooltip: 'Fit the graph to the view',
    onClick: () => actions.fit()
  });
  button('run-all', {
    icon: fastForwardIcon,
    label: 'Run all',
    tooltip: 'Run every block in dependency order',
    onClick: () => actions.runAll()
  });
  button('run-stale', {
    icon: runIcon,
    label: 'Run stale',
    tooltip: 'Run the blocks that are not fresh, and what depends on them',
    onClick: () => actions.runStale()
  });
  toolbar.addItem('spacer', Toolbar.createSpacerItem());
  const status = new Widget({ node: el('div', 'ainb-dag-status') });
  status.node.setAttribute('aria-live', 'polite');
  toolbar.addItem('status', status);
  const legend = new Widget({ node: el('div', 'ainb-dag-legend') });
  legend.node.append(
    el('span', 'ainb-dag-legend-inferred', 'inferred'),
    el('span', 'ainb-dag-legend-explicit', 'explicit')
  );
  legend.node.title =
    'Inferred edges come from the names blocks use. ' +
    'Drag from one block to another to add an explicit edge.';
  toolbar.addItem('legend', legend);
  return { toolbar, status: status.node };
}
