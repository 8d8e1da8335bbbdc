/**
 * Models: the list (latest version and each stage's current version) and, under it, the model
 * under the cursor: its versions with stages, the stage history (who, when) from the tags, and
 * the lineage of its latest version. `enter` opens the producing run.
 */
import React, { useMemo, useState } from 'react';
import { Box, Text } from 'ink';
import type { ModelList } from '../../core/registry/list.js';
import { useCommands, useLoad } from './hooks.js';
import { Lines, kvLines, type Line } from './lines.js';
import { historyLines, loadModel } from './model/registry.js';
import type { ModelDetail } from '../../core/registry/show.js';
import { fit } from './model/runs.js';
import { oneLine } from './model/text.js';
import { tone } from './theme.js';

export function modelLines(d: ModelDetail): Line[] {
  const out: Line[] = [[{ text: 'VERSIONS', bold: true, tone: 'accent' }]];
  for (const v of d.versions) out.push(`${fit(v.version, 10)} ${fit(v.stages.join(','), 18)} ${fit(v.run ?? '', 26)} ${v.registeredAt?.slice(0, 16).replace('T', ' ') ?? ''}${v.active ? '' : '  deregistered'}`);
  out.push('', [{ text: 'STAGE HISTORY', bold: true, tone: 'accent' }]);
  for (const h of historyLines(d)) out.push(`${h.time}  ${fit(oneLine(h.by), 24)} ${oneLine(h.what)}`);
  const l = d.selected?.lineage;
  out.push('', [{ text: `LINEAGE of ${d.selected?.version ?? ''}`, bold: true, tone: 'accent' }]);
  if (l)
    out.push(
      ...kvLines([
        ['run', l.run],
        ['experiment', oneLine(l.experiment)],
        ['source', `${l.source?.commit?.slice(0, 12) ?? ''}${l.source?.branch ? ` (${oneLine(l.source.branch)})` : ''}`],
        ['environment', l.environment ? `${oneLine(l.environment.name)} ${l.environment.digest.slice(0, 19)}` : ''],
        ['metrics', Object.entries(l.metrics ?? {}).map(([k, v]) => `${oneLine(k)}=${v}`).join(' ')],
        ...Object.entries(l.inputs ?? {}).map(([k, i]): [string, string] => [`input ${oneLine(k)}`, `${oneLine(i.path)} sha256:${i.sha256.slice(0, 16)}`]),
      ].filter(([, v]) => v !== '') as Array<[string, string]>),
    );
  else out.push(oneLine(d.selected?.lineageError ?? 'no lineage'));
  return out;
}

export function ModelsView(p: { dir: string; list?: ModelList; reload: number; width: number; height: number; color: boolean; active: boolean; onOpenRun: (id: string) => void }): React.ReactElement {
  const models = p.list?.models ?? [];
  const stages = p.list?.stages ?? [];
  const [cursor, setCursor] = useState(0);
  const cur = models[Math.min(cursor, models.length - 1)];
  const detail = useLoad(async () => (cur?.registered ? loadModel(p.dir, cur.name) : undefined), [p.dir, cur?.name, p.reload]);
  const listH = Math.min(models.length, Math.max(3, Math.floor((p.height - 2) / 3)));
  const lines = useMemo(() => (detail.value ? modelLines(detail.value) : []), [detail.value]);
  useCommands(
    'models',
    (id) => {
      if (id === 'down') setCursor((c) => Math.min(models.length - 1, c + 1));
      else if (id === 'up') setCursor((c) => Math.max(0, c - 1));
      else if (id === 'top') setCursor(0);
      else if (id === 'bottom') setCursor(models.length - 1);
      else if (id === 'open' && detail.value?.selected?.lineage) p.onOpenRun(detail.value.selected.lineage.run);
    },
    { active: p.active },
  );
  if (!p.list) return <Text>loading models…</Text>;
  if (models.length === 0) return <Text>No models yet. Define one in gitml/models/NAME.yaml and register a run with `gitml model register NAME --run RUN_ID`.</Text>;
  const start = Math.max(0, Math.min(cursor - listH + 1, models.length - listH));
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">{`  ${fit('MODEL', 16)} ${fit('LATEST', 9)} ${stages.map((s) => fit(s.toUpperCase(), 11)).join(' ')}`}</Text>
      {models.slice(start, start + listH).map((m, i) => (
        <Text key={m.name} inverse={start + i === cursor} wrap="truncate-end">
          {`${start + i === cursor ? '›' : ' '} ${fit(oneLine(m.name), 16)} ${fit(m.latest ?? '-', 9)} ${stages.map((s) => fit(m.stages[s] ?? '-', 11)).join(' ')}${m.deprecated ? ' deprecated' : ''}${m.registered ? '' : ' (not registered)'}`}
        </Text>
      ))}
      <Text> </Text>
      {detail.error ? <Text {...tone('bad', p.color)}>{oneLine(detail.error.message)}</Text> : <Lines lines={lines} offset={0} height={Math.max(1, p.height - listH - 2)} width={p.width} color={p.color} />}
    </Box>
  );
}
