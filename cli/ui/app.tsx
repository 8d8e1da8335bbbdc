/**
 * `gitml ui`: the app shell. It loads the runs, the registry and the services in the background
 * (a progress line until they arrive), polls the refs (runs branch, status branch, tags) and
 * reloads when they move, keeping the cursor, filter, sort and marks; it holds the screen stack
 * (detail, log, compare over the tab views) and the tabs, and draws "too small" below 60x16.
 */
import React, { useCallback, useEffect, useRef, useState } from 'react';
import { Box, Text, useApp, useInput, type Key } from 'ink';
import { loadRunStoreConfig } from '../../core/runs/config.js';
import { statusBranch } from '../../core/status/branch.js';
import { KeysContext, useLoad, useRefsVersion, useTerminalSize, type KeyHandler } from './hooks.js';
import { commandFor } from './keys.js';
import { allColumnKeys, defaultColumnKeys, defaultSort, loadRuns, tablePrimary, type RunsData } from './model/runs.js';
import { loadRegistry } from './model/registry.js';
import { loadServices } from './model/services.js';
import { oneLine } from './model/text.js';
import { RunsView, type RunsUi } from './runs-view.js';
import { DetailView } from './detail-view.js';
import { LogsView } from './logs-view.js';
import { CompareView } from './compare-view.js';
import { ModelsView } from './models-view.js';
import { ServicesView } from './services-view.js';
import { HelpView } from './help-view.js';
import { ColumnsView } from './columns-view.js';
import { colorEnabled, tone } from './theme.js';

export const MIN_COLUMNS = 60;
export const MIN_ROWS = 16;

type Tab = 'runs' | 'models' | 'services';
const TABS: Tab[] = ['runs', 'models', 'services'];

type Screen = { kind: 'detail'; id: string } | { kind: 'logs'; id: string } | { kind: 'compare'; ids: string[] };

export interface AppProps {
  dir: string;
  experiment?: string;
  /** How often the refs are polled for live updates (ms; 0 turns it off). */
  pollMs?: number;
  env?: NodeJS.ProcessEnv;
  /** Runs already loaded (the command reads them while ink loads). */
  initialRuns?: RunsData;
}

export function App(p: AppProps): React.ReactElement {
  const { exit } = useApp();
  const size = useTerminalSize();
  const color = colorEnabled(p.env);
  const pollMs = p.pollMs ?? 1500;
  const branches = useLoad(async () => [(await loadRunStoreConfig(p.dir)).branch, await statusBranch(p.dir)], [p.dir]);
  const version = useRefsVersion(p.dir, branches.value, pollMs);
  const runs = useLoad(() => loadRuns({ dir: p.dir, experiment: p.experiment }), [p.dir, p.experiment, version], p.initialRuns);
  const registry = useLoad(() => loadRegistry(p.dir), [p.dir, version]);
  const services = useLoad(() => loadServices(p.dir), [p.dir, version]);

  const [tab, setTab] = useState<Tab>('runs');
  const [stack, setStack] = useState<Screen[]>([]);
  const [help, setHelp] = useState(false);
  const [notice, setNotice] = useState('');
  // Best run first by the primary metric: from the first screen when the runs come with the app
  // (no newest-first frame before it), else once they are loaded (a sort the user picks wins).
  const [ui, setUiState] = useState<RunsUi>(() => ({
    filterText: '',
    filtering: false,
    cursor: 0,
    marked: [],
    choosing: false,
    ...(p.initialRuns ? { sort: defaultSort(tablePrimary(p.initialRuns, p.experiment)) } : {}),
  }));
  const setUi = useCallback((f: (u: RunsUi) => RunsUi) => setUiState(f), []);
  const [sorted, setSorted] = useState(p.initialRuns !== undefined);
  useEffect(() => {
    if (!sorted && runs.value) {
      setSorted(true);
      const s = defaultSort(tablePrimary(runs.value, p.experiment));
      if (s) setUi((u) => ({ ...u, sort: u.sort ?? s }));
    }
  }, [runs.value, sorted]);

  const screen = stack[stack.length - 1];
  const push = (s: Screen) => setStack((st) => [...st, s]);
  const pop = () => setStack((st) => st.slice(0, -1));
  // Set synchronously by the prompts (filter, log search): keys typed right after `/` arrive before React re-renders.
  const prompt = useRef(false);
  // The views below put their handler here while rendering (see KeysContext).
  const keys = useRef<KeyHandler | null>(null);
  keys.current = null;

  useEffect(() => {
    if (!notice) return;
    const t = setTimeout(() => setNotice(''), 4000);
    return () => clearTimeout(t);
  }, [notice]);

  // The one input subscription, stable for the app's life; it reads the latest render through refs.
  const shell = useRef<(input: string, key: Key) => void>(() => undefined);
  shell.current = (input, key) => {
    if (help) {
      setHelp(false);
      return;
    }
    const view = keys.current;
    if (view?.raw?.(input, key) || prompt.current) return;
    const id = commandFor(view?.ctx ?? 'list', input, key);
    if (id === 'quit') exit();
    else if (id === 'help') setHelp(true);
    else if ((id === 'nextView' || id === 'prevView') && !screen && !ui.choosing) setTab((t) => TABS[(TABS.indexOf(t) + (id === 'nextView' ? 1 : TABS.length - 1)) % TABS.length]);
    else if (id) view?.on(id);
  };
  const onInput = useCallback((input: string, key: Key) => shell.current(input, key), []);
  useInput(onInput);

  if (size.columns < MIN_COLUMNS || size.rows < MIN_ROWS) {
    return <Text>{`Terminal too small (${size.columns}x${size.rows}); gitml ui needs at least ${MIN_COLUMNS}x${MIN_ROWS}. Enlarge it, or press q to quit.`}</Text>;
  }
  const width = size.columns;
  const bodyH = size.rows - 3;
  const active = !help;
  let body: React.ReactElement;
  if (help) body = <HelpView width={width} height={bodyH} />;
  else if (screen?.kind === 'detail')
    body = <DetailView dir={p.dir} id={screen.id} registry={registry.value?.state} reload={version} width={width} height={bodyH} color={color} active={active} onBack={pop} onLogs={(id) => push({ kind: 'logs', id })} />;
  else if (screen?.kind === 'logs') body = <LogsView dir={p.dir} id={screen.id} reload={version} pollMs={pollMs} width={width} height={bodyH} color={color} active={active} onBack={pop} prompt={prompt} />;
  else if (screen?.kind === 'compare')
    body = <CompareView dir={p.dir} ids={screen.ids} metric={runs.value ? tablePrimary(runs.value, p.experiment)?.name : undefined} reload={version} width={width} height={bodyH} color={color} active={active} onBack={pop} />;
  else if (tab === 'runs') {
    if (runs.error && !runs.value) body = <Text {...tone('bad', color)}>{`cannot read the runs: ${oneLine(runs.error.message)}`}</Text>;
    else if (!runs.value) body = <Text>loading runs…</Text>;
    else if (ui.choosing) {
      const data = runs.value;
      body = (
        <ColumnsView
          all={allColumnKeys(data)}
          chosen={ui.chosen ?? defaultColumnKeys(data, tablePrimary(data, p.experiment))}
          height={bodyH}
          active={active}
          onDone={(chosen) => setUi((u) => ({ ...u, choosing: false, chosen: chosen ?? u.chosen }))}
        />
      );
    } else
      body = (
        <RunsView
          data={runs.value}
          experiment={p.experiment}
          ui={ui}
          setUi={setUi}
          width={width}
          height={bodyH}
          color={color}
          active={active}
          onOpen={(id) => push({ kind: 'detail', id })}
          onLogs={(id) => push({ kind: 'logs', id })}
          onCompare={(ids) => push({ kind: 'compare', ids })}
          notice={setNotice}
          prompt={prompt}
        />
      );
  } else if (tab === 'models')
    body = registry.error && !registry.value ? <Text {...tone('bad', color)}>{oneLine(registry.error.message)}</Text> : <ModelsView dir={p.dir} list={registry.value?.list} reload={version} width={width} height={bodyH} color={color} active={active} onOpenRun={(id) => push({ kind: 'detail', id })} />;
  else body = <ServicesView rows={services.value} error={services.error && !services.value ? services.error.message : undefined} width={width} height={bodyH} color={color} active={active} />;

  const loading = runs.loading || registry.loading || services.loading;
  return (
    <KeysContext.Provider value={keys}>
    <Box flexDirection="column" width={width} height={size.rows}>
      <Text wrap="truncate-end">
        <Text bold>gitml </Text>
        {TABS.map((t) => (
          <Text key={t} inverse={t === tab && !screen} bold={t === tab}>
            {` ${t === 'runs' ? `Runs${runs.value ? ` (${runs.value.table.n})` : ''}` : t === 'models' ? `Models${registry.value ? ` (${registry.value.list.models.length})` : ''}` : 'Services'} `}
          </Text>
        ))}
        {p.experiment ? <Text {...tone('dim', color)}>{`  experiment ${oneLine(p.experiment)}`}</Text> : null}
      </Text>
      <Box flexDirection="column" height={bodyH + 1}>
        {body}
      </Box>
      <Text wrap="truncate-end" {...tone(notice ? 'busy' : 'dim', color)}>
        {notice || `${loading ? 'loading… · ' : ''}? help · tab views · / filter · s sort · space mark · c compare · l log · q quit`}
      </Text>
    </Box>
    </KeysContext.Provider>
  );
}
