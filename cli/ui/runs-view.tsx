/**
 * The runs table: filter prompt, header, the visible rows (only those are rendered), and a
 * status line. State that must survive opening a run (filter, sort, cursor, marks, columns)
 * lives in the app and comes in as `ui`.
 */
import React, { useEffect, useMemo, useRef } from 'react';
import { Box, Text } from 'ink';
import { isGitmlError } from '../../core/errors.js';
import type { RunTable } from '../../core/runs/table.js';
import { useCommands } from './hooks.js';
import { allRows, cellText, columnsFor, fit, followCursor, nextSort, sortRuns, tablePrimary, tableView, windowStart, type FilterMemo, type RunsData, type Sort } from './model/runs.js';
import { oneLine } from './model/text.js';
import { statusTone, tone } from './theme.js';

export interface RunsUi {
  filterText: string;
  filtering: boolean;
  sort?: Sort;
  cursorId?: string;
  cursor: number;
  marked: string[];
  chosen?: string[];
  choosing: boolean;
}

export interface RunsViewProps {
  data: RunsData;
  experiment?: string;
  ui: RunsUi;
  setUi: (f: (u: RunsUi) => RunsUi) => void;
  width: number;
  height: number;
  color: boolean;
  active: boolean;
  onOpen: (id: string) => void;
  onLogs: (id: string) => void;
  onCompare: (ids: string[]) => void;
  notice: (msg: string) => void;
  /** True while the filter prompt has the keys (shared with the shell, set before any re-render). */
  prompt: { current: boolean };
}

export function RunsView(p: RunsViewProps): React.ReactElement {
  const { data, ui, setUi } = p;
  const primary = useMemo(() => tablePrimary(data, p.experiment), [data, p.experiment]);
  const cols = useMemo(() => columnsFor(data, { width: p.width - 2, primary, chosen: ui.chosen }), [data, p.width, primary, ui.chosen]);
  const table = data.table;
  // The last good rows, positions in `table` (a reload brings a new table: they are not its rows).
  const lastRows = useRef<{ table: RunTable; rows: number[] } | undefined>(undefined);
  // The last good filter and its rows: a filter typed on from it filters those rows only.
  const memo = useRef<FilterMemo | undefined>(undefined);
  const sorted = useMemo(() => {
    try {
      return { rows: sortRuns(data, ui.sort) };
    } catch (e) {
      if (!isGitmlError(e)) throw e;
      return { rows: allRows(data), error: { code: e.code, message: e.message } };
    }
  }, [data, ui.sort]);
  // Once the table is on screen: what the first filter word is tested on, read while idle.
  useEffect(() => {
    const t = setTimeout(() => {
      try {
        table.prepareWords();
      } catch {
        /* a damaged index: said when the filter reads it */
      }
    }, 100);
    return () => clearTimeout(t);
  }, [table]);
  const view = useMemo(() => {
    const v = tableView(data, ui.filterText, ui.sort, lastRows.current?.table === table ? lastRows.current.rows : undefined, sorted.rows, memo);
    return sorted.error && !v.error ? { ...v, error: sorted.error } : v;
  }, [data, ui.filterText, sorted]);
  if (!view.error) lastRows.current = { table, rows: view.rows };
  const rows = view.rows;
  const cursor = followCursor(data, rows, ui.cursorId, ui.cursor);
  const idAt = (i: number) => (rows[i] === undefined ? undefined : table.id(rows[i]));
  const bodyHeight = Math.max(1, p.height - 3);
  const startRef = useRef(0);
  const start = windowStart(rows.length, cursor, bodyHeight, startRef.current);
  startRef.current = start;

  const move = (to: number) => {
    const i = Math.max(0, Math.min(rows.length - 1, to));
    setUi((u) => ({ ...u, cursor: i, cursorId: idAt(i) }));
  };
  const current = idAt(cursor);

  useCommands(
    'list',
    (id) => {
      const page = Math.max(1, bodyHeight - 1);
      if (id === 'down') move(cursor + 1);
      else if (id === 'up') move(cursor - 1);
      else if (id === 'pageDown') move(cursor + page);
      else if (id === 'pageUp') move(cursor - page);
      else if (id === 'top') move(0);
      else if (id === 'bottom') move(rows.length - 1);
      else if (id === 'filter') {
        p.prompt.current = true;
        setUi((u) => ({ ...u, filtering: true }));
      }
      else if (id === 'sort') setUi((u) => ({ ...u, sort: nextSort(cols, u.sort), cursor: 0, cursorId: undefined }));
      else if (id === 'reverse') setUi((u) => ({ ...u, sort: u.sort ? { ...u.sort, desc: !u.sort.desc } : { key: 'id', desc: false }, cursor: 0, cursorId: undefined }));
      else if (id === 'columns') setUi((u) => ({ ...u, choosing: true }));
      else if (id === 'open' && current) p.onOpen(current);
      else if (id === 'logs' && current) p.onLogs(current);
      else if (id === 'mark' && current) {
        setUi((u) => ({ ...u, marked: u.marked.includes(current) ? u.marked.filter((m) => m !== current) : [...u.marked, current] }));
        move(cursor + 1);
      } else if (id === 'compare') {
        if (ui.marked.length >= 2) p.onCompare(ui.marked);
        else p.notice('mark two or more runs with space, then press c');
      } else if (id === 'back' && ui.filterText) setUi((u) => ({ ...u, filterText: '' }));
    },
    {
      active: p.active,
      raw: (input, key) => {
        if (!p.prompt.current) return false;
        if (key.return || key.escape || key.tab) {
          p.prompt.current = false;
          setUi((u) => ({ ...u, filtering: false }));
        }
        else if (key.backspace || key.delete) setUi((u) => ({ ...u, filterText: u.filterText.slice(0, -1) }));
        else if (key.ctrl && input === 'u') setUi((u) => ({ ...u, filterText: '' }));
        else if (input && !key.ctrl && !key.meta && !key.upArrow && !key.downArrow) {
          // A paste, or keys typed faster than a frame, arrive as one chunk: a line end in it ends the prompt.
          const [typed, ...rest] = input.split(/[\r\n]/);
          setUi((u) => ({ ...u, filterText: u.filterText + typed, filtering: rest.length === 0 }));
          if (rest.length) p.prompt.current = false;
        }
        else return key.upArrow || key.downArrow ? false : true;
        return true;
      },
    },
  );

  const sortMark = (key: string) => (ui.sort?.key === key ? (ui.sort.desc ? '↓' : '↑') : '');
  const header = '  ' + cols.map((c) => fit(c.title + sortMark(c.key), c.width, c.align)).join(' ');
  const shown = rows.slice(start, start + bodyHeight);
  const marked = new Set(ui.marked);
  const emptyText =
    data.recorded === 0
      ? 'No runs recorded yet. Run an experiment with `gitml run EXPERIMENT`, then this table fills in (live).'
      : table.n === 0
        ? `No runs of experiment ${p.experiment ?? ''} (${data.recorded} recorded in all).`
        : 'No run matches the filter (esc clears it).';

  return (
    <Box flexDirection="column">
      <Text wrap="truncate-end">
        <Text {...tone('accent', p.color)}>/</Text>
        {ui.filtering || ui.filterText ? ` ${oneLine(ui.filterText)}${ui.filtering ? '▏' : ''}` : <Text {...tone('dim', p.color)}> filter: metrics.accuracy&gt;0.9 params.kernel=rbf failed</Text>}
        {view.error ? <Text {...tone('bad', p.color)}>{`  ✗ ${oneLine(view.error.message)}`}</Text> : null}
      </Text>
      <Text bold wrap="truncate-end">
        {header}
      </Text>
      {shown.length === 0 ? (
        <Text>{emptyText}</Text>
      ) : (
        shown.map((pos, i) => {
          const at = start + i === cursor;
          const id = table.id(pos);
          return (
            <Text key={id} inverse={at} wrap="truncate-end">
              {at ? '›' : ' '}
              {marked.has(id) ? '*' : ' '}
              {cols.map((c, j) => (
                <Text key={c.key} {...(c.key === 'status' ? tone(statusTone(String(table.value(pos, 'status'))), p.color) : {})}>
                  {(j ? ' ' : '') + cellText(table, pos, c)}
                </Text>
              ))}
            </Text>
          );
        })
      )}
      {Array.from({ length: Math.max(0, bodyHeight - Math.max(1, shown.length)) }, (_, i) => (
        <Text key={`pad${i}`}> </Text>
      ))}
      <Text wrap="truncate-end" {...tone('dim', p.color)}>
        {`${rows.length ? cursor + 1 : 0}/${rows.length} runs${rows.length !== table.n ? ` (of ${table.n})` : ''}`}
        {ui.sort ? ` · sort ${ui.sort.key} ${ui.sort.desc ? 'desc' : 'asc'}` : ' · newest first'}
        {ui.marked.length ? ` · ${ui.marked.length} marked (c compares)` : ''}
        {data.problems.length ? ` · ${data.problems.length} malformed record${data.problems.length > 1 ? 's' : ''}: ${oneLine(data.problems[0].path)}: ${oneLine(data.problems[0].message)}` : ''}
      </Text>
    </Box>
  );
}
