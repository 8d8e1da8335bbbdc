/**
 * The log pager: a page of lines at a time from the LogPager index, `/` search with n/N, g/G,
 * and `f` follow for a running run (reloaded on each refs change and on a timer, staying at the
 * end).
 */
import React, { useEffect, useMemo, useState } from 'react';
import { Box, Text } from 'ink';
import { getRun } from '../../core/runs/get.js';
import { runLogs } from '../../core/runs/read.js';
import { useCommands, useLoad } from './hooks.js';
import { scroll } from './lines.js';
import { LogPager, lastPageStart } from './model/pager.js';
import { oneLine } from './model/text.js';
import { tone } from './theme.js';

export function LogsView(p: { dir: string; id: string; reload: number; pollMs: number; width: number; height: number; color: boolean; active: boolean; onBack: () => void; prompt: { current: boolean } }): React.ReactElement {
  const [tick, setTick] = useState(0);
  const [follow, setFollow] = useState(false);
  const loaded = useLoad(async () => {
    const [{ logs, id }, { record }] = await Promise.all([runLogs({ dir: p.dir, id: p.id }), getRun({ dir: p.dir, id: p.id })]);
    return { id, status: record.status, pager: new LogPager(logs) };
  }, [p.dir, p.id, p.reload, tick]);
  const pager = loaded.value?.pager;
  const running = loaded.value?.status === 'running' || loaded.value?.status === 'queued';
  const h = Math.max(1, p.height - 2);
  const [top, setTop] = useState(0);
  const [searching, setSearching] = useState(false);
  const [term, setTerm] = useState('');
  const [msg, setMsg] = useState('');
  const total = pager?.lineCount ?? 0;
  const [pendingSearch, setPendingSearch] = useState(false);
  useEffect(() => {
    if (!pendingSearch) return;
    setPendingSearch(false);
    if (pager && term) {
      const at = pager.search(term, top > 0 ? top - 1 : -1);
      setMsg(at < 0 ? `not found: ${term}` : `match at line ${at + 1}`);
      if (at >= 0) setTop(at);
    }
  }, [pendingSearch]);

  useEffect(() => {
    if (follow && pager) setTop(lastPageStart(pager.lineCount, h));
  }, [follow, pager, h]);
  useEffect(() => {
    if (!follow || !running || p.pollMs <= 0) return;
    const t = setInterval(() => setTick((x) => x + 1), p.pollMs);
    return () => clearInterval(t);
  }, [follow, running, p.pollMs]);

  const find = (backwards: boolean) => {
    if (!pager || !term) return;
    const at = pager.search(term, top, backwards);
    if (at < 0) setMsg(`not found: ${term}`);
    else {
      setMsg(`match at line ${at + 1}`);
      setTop(at);
    }
  };

  useCommands(
    'logs',
    (id) => {
      if (id === 'back') p.onBack();
      else if (id === 'search') {
        p.prompt.current = true;
        setSearching(true);
        setTerm('');
      } else if (id === 'nextMatch') find(false);
      else if (id === 'prevMatch') find(true);
      else if (id === 'follow') {
        setFollow((f) => !f);
        setMsg(follow ? 'follow off' : running ? 'following' : 'following (the run has ended)');
      } else {
        setFollow(false);
        setTop((t) => scroll(t, id, total, h));
      }
    },
    {
      active: p.active,
      raw: (input, key) => {
        if (!p.prompt.current) return false;
        if (key.return) {
          p.prompt.current = false;
          setSearching(false);
          setPendingSearch(true);
        } else if (key.escape) {
          p.prompt.current = false;
          setSearching(false);
        }
        else if (key.backspace || key.delete) setTerm((t) => t.slice(0, -1));
        else if (input && !key.ctrl && !key.meta) {
          const [typed, ...rest] = input.split(/[\r\n]/);
          setTerm((t) => t + typed);
          if (rest.length) {
            p.prompt.current = false;
            setSearching(false);
            setPendingSearch(true);
          }
        }
        return true;
      },
    },
  );

  const lines = useMemo(() => (pager ? pager.page(top, h, p.width) : []), [pager, top, h, p.width]);
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        {`Log of ${oneLine(p.id)}`}
        <Text {...tone('dim', p.color)}>{`  lines ${total ? top + 1 : 0}-${Math.min(total, top + h)} of ${total}${follow ? ' · following' : ''} · / search · n/N · f follow · esc back`}</Text>
      </Text>
      {loaded.error ? (
        <Text {...tone('bad', p.color)}>{oneLine(loaded.error.message)}</Text>
      ) : !pager ? (
        <Text>loading log…</Text>
      ) : total === 0 ? (
        <Text>This run recorded no log.</Text>
      ) : (
        lines.map((l, i) => (
          <Text key={top + i} wrap="truncate-end" {...(term && l.includes(term) ? tone('diff', p.color) : {})}>
            {l || ' '}
          </Text>
        ))
      )}
      <Text wrap="truncate-end" {...tone(searching ? 'accent' : 'dim', p.color)}>
        {searching ? `/${oneLine(term)}▏` : oneLine(msg)}
      </Text>
    </Box>
  );
}
