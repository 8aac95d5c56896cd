/**
 * Context menus of the DAG view (Lumino menus, themed like JupyterLab's):
 * on a node, open or run it, its upstream or its downstream; on an explicit
 * edge, remove it. The commands live in a registry private to the view.
 */
import { CommandRegistry } from '@lumino/commands';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { Menu } from '@lumino/widgets';

import { IPipelineRequest } from '../dagapi';

export interface IMenuActions {
  openBlock(blockId: number): void;
  run(request: IPipelineRequest, what: string): void;
  removeEdge(edgeId: number): void;
}

const CMD = {
  open: 'dag:open-block',
  runBlock: 'dag:run-block',
  runUpstream: 'dag:run-upstream',
  runDownstream: 'dag:run-downstream',
  removeEdge: 'dag:remove-edge'
};

function blockOf(args: ReadonlyPartialJSONObject): number {
  return Number(args.blockId);
}

export class DagMenus {
  constructor(actions: IMenuActions) {
    const commands = (this._commands = new CommandRegistry());
    commands.addCommand(CMD.open, {
      label: 'Open block',
      execute: args => actions.openBlock(blockOf(args))
    });
    commands.addCommand(CMD.runBlock, {
      label: 'Run this block',
      execute: args =>
        actions.run(
          { target: 'blocks', block_ids: [blockOf(args)] },
          `block #${blockOf(args)}`
        )
    });
    commands.addCommand(CMD.runUpstream, {
      label: 'Run upstream',
      caption: 'This block and the blocks it needs',
      execute: args =>
        actions.run(
          { target: 'upstream', block_id: blockOf(args) },
          `upstream of #${blockOf(args)}`
        )
    });
    commands.addCommand(CMD.runDownstream, {
      label: 'Run downstream',
      caption: 'This block and every block that depends on it',
      execute: args =>
        actions.run(
          { target: 'downstream', block_id: blockOf(args) },
          `downstream of #${blockOf(args)}`
        )
    });
    commands.addCommand(CMD.removeEdge, {
      label: 'Remove explicit edge',
      execute: args => actions.removeEdge(Number(args.edgeId))
    });
  }

  /** Show the menu of a node at client coordinates. */
  openNodeMenu(blockId: number, x: number, y: number): void {
    const menu = this._menu();
    menu.addClass('ainb-dag-node-menu');
    const args = { blockId };
    menu.addItem({ command: CMD.open, args });
    menu.addItem({ type: 'separator' });
    menu.addItem({ command: CMD.runBlock, args });
    menu.addItem({ command: CMD.runUpstream, args });
    menu.addItem({ command: CMD.runDownstream, args });
    menu.open(x, y);
  }

  /** Show the menu of an explicit edge at client coordinates. */
  openEdgeMenu(edgeId: number, x: number, y: number): void {
    const menu = this._menu();
    menu.addClass('ainb-dag-edge-menu');
    menu.addItem({ command: CMD.removeEdge, args: { edgeId } });
    menu.open(x, y);
  }

  dispose(): void {
    this._current?.dispose();
    this._current = null;
  }

  private _menu(): Menu {
    this.dispose();
    const menu = new Menu({ commands: this._commands });
    menu.addClass('ainb-dag-menu');
    menu.aboutToClose.connect(() => {
      // Dispose after the triggered command ran.
      requestAnimationFrame(() => menu.dispose());
    });
    this._current = menu;
    return menu;
  }

  private readonly _commands: CommandRegistry;
  private _current: Menu | null = null;
}
