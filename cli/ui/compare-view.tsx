/** Compare the marked runs: params side by side (differences highlighted), metric deltas against the first run, one metric's series overlaid (`m` for the next). */
import React, { useMemo, useState } from 'react';
import { Box, Text } from 'ink';
import { fmtNum } from '../output.js';
import { useCommands, useLoad } from './hooks.js';
import { Lines, scroll, type Line } from './lines.js';
import { overlay } from './model/chart.js';
import { loadCompare, nextMetric, type CompareData } from './model/compare.js';
import { fit } from './model/runs.js';
import { oneLine } from './model/text.js';
import { tone } from './theme.js';

const MARKS = ['●', '○', '◆', '◇', '■', '□', '▲', '△'];

export function compareLines(c: CompareData, width: number): Line[] {
  const n = c.runs.length;
  const label = Math.min(24, Math.max(10, ...c.params.map((p) => p.name.length + 2), ...c.metrics.map((m) => m.name.length)));
  const colW = Math.max(10, Math.min(22, Math.floor((width - label - 2) / n) - 1));
  const row = (name: string, cells: string[], diff = false): Line => [
    { text: fit(name, label) + ' ', bold: true, tone: diff ? 'diff' : undefined },
    ...cells.map((s, i) => ({ text: fit(s, colW) + ' ', tone: diff && i > 0 ? ('diff' as const) : undefined })),
  ];
  const out: Line[] = [];
  out.push(row('run', c.runs.map((r, i) => `${MARKS[i % MARKS.length]} ${r.id.slice(0, 12)}`)));
  out.push(row('experiment', c.runs.map((r) => oneLine(r.experiment))));
  out.push(row('status', c.runs.map((r) => r.status)));
  out.push('', [{ text: 'PARAMS (differences marked *)', bold: true, tone: 'accent' }]);
  for (const p of c.params) out.push(row(`${p.differs ? '* ' : '  '}${oneLine(p.name)}`, p.values.map((v) => (v === undefined ? '' : oneLine(typeof v === 'number' ? fmtNum(v) : String(v)))), p.differs));
  out.push('', [{ text: 'METRICS (delta against the first run)', bold: true, tone: 'accent' }]);
  for (const m of c.metrics) {
    const cells: Line = [{ text: fit(oneLine(m.name), label) + ' ', bold: true }];
    m.values.forEach((v, i) => {
      const d = m.deltas[i];
      const delta = i > 0 && d !== undefined && d !== 0 && !Number.isNaN(d) ? ` ${d > 0 ? '+' : ''}${fmtNum(d)}` : '';
      const base = v === undefined ? '' : fmtNum(v);
      cells.push({ text: base });
      cells.push({ text: delta, tone: d === undefined || d === 0 ? undefined : d > 0 ? 'good' : 'bad' });
      cells.push({ text: ' '.repeat(Math.max(1, colW + 1 - base.length - delta.length)) });
    });
    out.push(cells);
  }
  if (c.metric !== undefined) {
    out.push('', [{ text: `${oneLine(c.metric)} over steps (m: next metric)  `, bold: true, tone: 'accent' }, { text: c.runs.map((r, i) => `${MARKS[i % MARKS.length]} ${r.id.slice(0, 8)}`).join('  ') }]);
    out.push(...overlay(c.series, { width: Math.max(20, width - 2), height: 8, marks: MARKS }));
  }
  return out;
}

export function CompareView(p: { dir: string; ids: string[]; metric?: string; reload: number; width: number; height: number; color: boolean; active: boolean; onBack: () => void }): React.ReactElement {
  const [metric, setMetric] = useState(p.metric);
  const c = useLoad(() => loadCompare({ dir: p.dir, ids: p.ids, metric }), [p.dir, p.ids.join(), metric, p.reload]);
  const lines = useMemo(() => (c.value ? compareLines(c.value, p.width) : []), [c.value, p.width]);
  const [offset, setOffset] = useState(0);
  const h = Math.max(1, p.height - 1);
  useCommands(
    'compare',
    (id) => {
      if (id === 'back') p.onBack();
      else if (id === 'metric' && c.value) setMetric(nextMetric(c.value, c.value.metric));
      else setOffset((o) => scroll(o, id, lines.length, h));
    },
    { active: p.active },
  );
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">
        {`Compare ${p.ids.length} runs`}
        <Text {...tone('dim', p.color)}>{'  esc back · m next metric · j/k scroll'}</Text>
      </Text>
      {c.error ? <Text {...tone('bad', p.color)}>{oneLine(c.error.message)}</Text> : c.value ? <Lines lines={lines} offset={offset} height={h} width={p.width} color={p.color} /> : <Text>loading runs…</Text>}
    </Box>
  );
}
