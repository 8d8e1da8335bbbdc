/**
 * Every key of `gitml ui` in one command map: the views ask `commandFor` what a key press means
 * where they are, and the help overlay (`?`) lists this table, so a key cannot work without
 * being listed or be listed without working.
 */
import type { Key } from 'ink';

export type Context = 'list' | 'detail' | 'logs' | 'compare' | 'models' | 'services' | 'columns';

export type CommandId =
  | 'down'
  | 'up'
  | 'pageDown'
  | 'pageUp'
  | 'top'
  | 'bottom'
  | 'open'
  | 'back'
  | 'nextView'
  | 'prevView'
  | 'filter'
  | 'sort'
  | 'reverse'
  | 'mark'
  | 'compare'
  | 'logs'
  | 'columns'
  | 'search'
  | 'nextMatch'
  | 'prevMatch'
  | 'follow'
  | 'metric'
  | 'help'
  | 'quit';

export interface Command {
  id: CommandId;
  /** How the help overlay writes the keys. */
  keys: string;
  help: string;
  /** Where the command applies (undefined: everywhere). */
  where?: Context[];
  match: (input: string, key: Key) => boolean;
}

const ch = (...cs: string[]) => (input: string, key: Key) => !key.ctrl && !key.meta && cs.includes(input);

export const COMMANDS: Command[] = [
  { id: 'down', keys: 'j ↓', help: 'down', match: (i, k) => k.downArrow || ch('j')(i, k) },
  { id: 'up', keys: 'k ↑', help: 'up', match: (i, k) => k.upArrow || ch('k')(i, k) },
  { id: 'pageDown', keys: 'PgDn ctrl-d', help: 'one page down', match: (i, k) => k.pageDown || (k.ctrl && i === 'd') },
  { id: 'pageUp', keys: 'PgUp ctrl-u', help: 'one page up', match: (i, k) => k.pageUp || (k.ctrl && i === 'u') },
  { id: 'top', keys: 'g Home', help: 'first line', match: (i, k) => k.home || ch('g')(i, k) },
  { id: 'bottom', keys: 'G End', help: 'last line', match: (i, k) => k.end || ch('G')(i, k) },
  { id: 'open', keys: 'enter', help: 'open run (model: its run)', where: ['list', 'models', 'columns'], match: (_i, k) => k.return },
  { id: 'back', keys: 'esc', help: 'back', match: (_i, k) => k.escape },
  { id: 'nextView', keys: 'tab', help: 'next view', match: (_i, k) => k.tab && !k.shift },
  { id: 'prevView', keys: 'shift-tab', help: 'previous view', match: (_i, k) => k.tab && k.shift },
  { id: 'filter', keys: '/', help: 'filter runs as you type', where: ['list'], match: ch('/') },
  { id: 'search', keys: '/', help: 'search the log', where: ['logs'], match: ch('/') },
  { id: 'nextMatch', keys: 'n', help: 'next match', where: ['logs'], match: ch('n') },
  { id: 'prevMatch', keys: 'N', help: 'previous match', where: ['logs'], match: ch('N') },
  { id: 'follow', keys: 'f', help: 'follow a running log', where: ['logs'], match: ch('f') },
  { id: 'sort', keys: 's', help: 'sort by the next column', where: ['list'], match: ch('s') },
  { id: 'reverse', keys: 'S', help: 'reverse the sort', where: ['list'], match: ch('S') },
  { id: 'columns', keys: 'v', help: 'choose columns', where: ['list'], match: ch('v') },
  { id: 'mark', keys: 'space', help: 'mark run / toggle column', where: ['list', 'columns'], match: (i) => i === ' ' },
  { id: 'compare', keys: 'c', help: 'compare marked runs', where: ['list'], match: ch('c') },
  { id: 'logs', keys: 'l', help: 'the run log', where: ['list', 'detail'], match: ch('l') },
  { id: 'metric', keys: 'm', help: 'next metric in the chart', where: ['compare'], match: ch('m') },
  { id: 'help', keys: '?', help: 'this help', match: ch('?') },
  { id: 'quit', keys: 'q ctrl-c', help: 'quit', match: (i, k) => ch('q')(i, k) || (k.ctrl && i === 'c') },
];

/** The command a key press means in `ctx`, or undefined. */
export function commandFor(ctx: Context, input: string, key: Key): CommandId | undefined {
  for (const c of COMMANDS) if ((!c.where || c.where.includes(ctx)) && c.match(input, key)) return c.id;
  return undefined;
}
