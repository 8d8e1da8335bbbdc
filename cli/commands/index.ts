import type { Command } from 'commander';

type Register = (program: Command) => void;

/**
 * Every top-level command, in the order `gitml --help` lists them, with the module that defines
 * it. Modules are imported only when needed (cli/program.ts): a command loads itself alone, help
 * and unknown commands load them all.
 */
export const commands: Array<{ names: string[]; load: () => Promise<{ register: Register }> }> = [
  { names: ['init'], load: () => import('./init.js') },
  { names: ['validate'], load: () => import('./validate.js') },
  { names: ['run'], load: () => import('./run.js') },
  { names: ['model'], load: () => import('./model.js') },
  { names: ['models'], load: () => import('./models.js') },
  { names: ['runs'], load: () => import('./runs.js') },
  { names: ['report'], load: () => import('./report.js') },
  { names: ['push', 'pull'], load: () => import('./sync.js') },
  { names: ['manifest'], load: () => import('./manifest.js') },
  { names: ['image'], load: () => import('./image.js') },
  { names: ['serve'], load: () => import('./serve.js') },
  { names: ['deploy', 'services', 'service', 'rollback'], load: () => import('./deploy.js') },
  { names: ['env'], load: () => import('./env.js') },
  { names: ['monitor'], load: () => import('./monitor.js') },
  { names: ['artifacts'], load: () => import('./artifacts.js') },
  { names: ['queue'], load: () => import('./queue.js') },
  { names: ['daemon'], load: () => import('./daemon.js') },
  { names: ['ui'], load: () => import('./ui.js') },
];
