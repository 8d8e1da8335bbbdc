/**
 * One run: lineage, params, final metrics with a chart of each series, artifacts with sizes,
 * the registry versions made from it, tags. Scrolls with the movement keys; `l` opens the log.
 */
import React, { useMemo, useState } from 'react';
import { Box, Text } from 'ink';
import type { RegistryState } from '../../core/registry/state.js';
import { fmtNum } from '../output.js';
import { useCommands, useLoad } from './hooks.js';
import { Lines, kvLines, scroll, type Line } from './lines.js';
import { chart } from './model/chart.js';
import { fmtBytes, lineageRows, loadRunDetail, type RunDetail } from './model/detail.js';
import { oneLine } from './model/text.js';
import { statusTone, tone } from './theme.js';

export function detailLines(d: RunDetail, width: number): Line[] {
  const r = d.record;
  const out: Line[] = [];
  const section = (title: string) => out.push('', [{ text: title, bold: true, tone: 'accent' }]);
  out.push(...kvLines(lineageRows(d).map(([k, v]) => [k, oneLine(v)])).map((l, i) => (i === 2 && Array.isArray(l) ? [l[0], { ...l[1], tone: statusTone(r.status) }] : l)));
  const params = Object.entries(r.params ?? {});
  if (params.length) {
    section('PARAMS');
    out.push(...kvLines(params.map(([k, v]) => [oneLine(k), oneLine(typeof v === 'number' ? fmtNum(v) : String(v))])));
  }
  const metrics = Object.entries(r.metrics ?? {});
  const series = Object.keys(d.series).sort();
  if (metrics.length || series.length) {
    section('METRICS');
    out.push(...kvLines(metrics.map(([k, v]) => [oneLine(k), fmtNum(v)])));
    for (const name of series) {
      const n = d.series[name].length;
      out.push('', [{ text: `${oneLine(name)} (${n} points${n > width - 12 ? ', one column per bucket of steps: mean' : ''})`, bold: true }]);
      out.push(...chart(d.series[name], { width: Math.max(20, width - 2), height: 5 }));
    }
  }
  if (r.artifacts?.length) {
    section('ARTIFACTS');
    out.push(...kvLines(r.artifacts.map((a) => [oneLine(a.path), `${fmtBytes(a.size).padStart(10)}  ${a.storage.padEnd(6)}  sha256:${a.sha256.slice(0, 16)}`])));
  }
  section('MODEL VERSIONS');
  if (d.versions.length) out.push(...d.versions.map((v) => `${oneLine(v.model)}@${v.version}${v.stages.length ? `  (${v.stages.join(', ')})` : ''}${v.active ? '' : '  deregistered'}`));
  else out.push('none registered from this run');
  const tags = Object.entries(r.tags ?? {});
  if (tags.length) {
    section('TAGS');
    out.push(...kvLines(tags.map(([k, v]) => [oneLine(k), oneLine(v)])));
  }
  return out;
}

export function DetailView(p: { dir: string; id: string; registry?: RegistryState; reload: number; width: number; height: number; color: boolean; active: boolean; onLogs: (id: string) => void; onBack: () => void }): React.ReactElement {
  const d = useLoad(() => loadRunDetail({ dir: p.dir, id: p.id, registry: p.registry }), [p.dir, p.id, p.registry, p.reload]);
  const lines = useMemo(() => (d.value ? detailLines(d.value, p.width) : []), [d.value, p.width]);
  const [offset, setOffset] = useState(0);
  const h = Math.max(1, p.height - 1);
  useCommands(
    'detail',
    (id) => {
      if (id === 'back') p.onBack();
      else if (id === 'logs') p.onLogs(p.id);
      else setOffset((o) => scroll(o, id, lines.length, h));
    },
    { active: p.active },
  );
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        {`Run ${oneLine(p.id)}`}
        <Text {...tone('dim', p.color)}>{'  esc back · l log · j/k scroll'}</Text>
      </Text>
      {d.error ? <Text {...tone('bad', p.color)}>{oneLine(d.error.message)}</Text> : d.value ? <Lines lines={lines} offset={offset} height={h} width={p.width} color={p.color} /> : <Text>loading run…</Text>}
    </Box>
  );
}
