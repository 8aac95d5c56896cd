/**
 * The "Run ▾" menu of a project notebook's toolbar: every pipeline target
 * but "stale" (which has its own button), and the pipeline options (parallel
 * workers, retries) as checkable items. One toolbar slot instead of seven, so
 * the toolbar fits beside JupyterLab's own items with the sidebar open.
 * The commands live in a registry private to the menu.
 */
import { ToolbarButton } from '@jupyterlab/apputils';
import { checkIcon } from '@jupyterlab/ui-components';
import { CommandRegistry } from '@lumino/commands';
import { Menu } from '@lumino/widgets';

import type { PipelineTarget } from './projectapi';

/** Parallel workers and retries for the next pipeline. */
export interface IPipelineOptions {
  parallel: number;
  retries: number;
}

const TARGETS: Array<[PipelineTarget, string, string]> = [
  ['all', 'Run all blocks', 'Every block, in DAG order'],
  ['upstream', 'Run upstream', 'The active block and what it needs'],
  ['downstream', 'Run downstream', 'The active block and what depends on it'],
  ['blocks', 'Run selected blocks', 'The selected blocks, in DAG order']
];

const PARALLEL = [1, 2, 4];
const RETRIES = [0, 1, 2, 3];
const STORAGE_KEY = 'ai-notebook:pipeline-options';

/** The options last chosen in this browser (sequential, no retries at first). */
export function savedOptions(): IPipelineOptions {
  try {
    const saved = JSON.parse(window.localStorage.getItem(STORAGE_KEY) ?? '{}');
    return {
      parallel: PARALLEL.includes(saved.parallel) ? saved.parallel : 1,
      retries: RETRIES.includes(saved.retries) ? saved.retries : 0
    };
  } catch {
    return { parallel: 1, retries: 0 };
  }
}

function save(options: IPipelineOptions): void {
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(options));
  } catch {
    // private mode or full storage: the choice lasts for this page only
  }
}

/** The menu's toolbar button; `start` runs a pipeline with the options. */
export function runMenuButton(
  options: IPipelineOptions,
  start: (target: PipelineTarget) => void
): ToolbarButton {
  const commands = new CommandRegistry();
  for (const [target, label, caption] of TARGETS) {
    commands.addCommand(`run:${target}`, {
      label,
      caption,
      execute: () => start(target)
    });
  }
  // One checkable command per value of an option.
  const choice = (
    key: keyof IPipelineOptions,
    n: number,
    label: string,
    caption: string
  ): void => {
    commands.addCommand(`${key}:${n}`, {
      label,
      caption,
      isToggled: () => options[key] === n,
      icon: () => (options[key] === n ? checkIcon : undefined),
      execute: () => {
        options[key] = n;
        save(options);
      }
    });
  };
  for (const n of PARALLEL) {
    const label = n === 1 ? 'Sequential' : `${n} parallel workers`;
    choice(
      'parallel',
      n,
      label,
      'Independent branches run in forks of the kernel'
    );
  }
  for (const n of RETRIES) {
    const label =
      n === 0 ? 'No retries' : `${n} ${n === 1 ? 'retry' : 'retries'}`;
    choice('retries', n, label, 'How often a failing block is tried again');
  }

  const open = (anchor: HTMLElement): void => {
    const menu = new Menu({ commands });
    menu.addClass('ainb-run-menu');
    for (const [target] of TARGETS) {
      menu.addItem({ command: `run:${target}` });
    }
    menu.addItem({ type: 'separator' });
    for (const n of PARALLEL) {
      menu.addItem({ command: `parallel:${n}` });
    }
    menu.addItem({ type: 'separator' });
    for (const n of RETRIES) {
      menu.addItem({ command: `retries:${n}` });
    }
    menu.aboutToClose.connect(() =>
      requestAnimationFrame(() => menu.dispose())
    );
    const box = anchor.getBoundingClientRect();
    menu.open(box.left, box.bottom);
  };

  const button: ToolbarButton = new ToolbarButton({
    label: '▶ Run ▾',
    tooltip: 'Run all, upstream, downstream or selected blocks; options',
    className: 'ainb-tb-run-menu',
    onClick: () => open(button.node)
  });
  return button;
}
