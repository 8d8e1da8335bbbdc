/** Services from the status branch: desired and running version, conditions, drift of the last report. */
import React, { useState } from 'react';
import { Box, Text } from 'ink';
import { useCommands } from './hooks.js';
import type { ServiceRow } from './model/services.js';
import { fit } from './model/runs.js';
import { oneLine } from './model/text.js';
import { tone } from './theme.js';

export function ServicesView(p: { rows?: ServiceRow[]; error?: string; width: number; height: number; color: boolean; active: boolean }): React.ReactElement {
  const [cursor, setCursor] = useState(0);
  const rows = p.rows ?? [];
  useCommands(
    'services',
    (id) => {
      if (id === 'down') setCursor((c) => Math.min(rows.length - 1, c + 1));
      else if (id === 'up') setCursor((c) => Math.max(0, c - 1));
    },
    { active: p.active },
  );
  if (p.error) return <Text {...tone('bad', p.color)}>{oneLine(p.error)}</Text>;
  if (!p.rows) return <Text>loading services…</Text>;
  if (rows.length === 0) return <Text>No services deployed (their status appears here once a service is deployed and monitored).</Text>;
  const cur = rows[Math.min(cursor, rows.length - 1)];
  return (
    <Box flexDirection="column">
      <Text bold wrap="truncate-end">{`  ${fit('SERVICE', 18)} ${fit('DESIRED', 10)} ${fit('RUNNING', 10)} ${fit('READY', 8)} DRIFT`}</Text>
      {rows.slice(0, Math.max(1, p.height - 8)).map((r, i) => {
        const ready = r.conditions.find((c) => c.type === 'Ready');
        return (
          <Text key={r.name} inverse={i === cursor} wrap="truncate-end">
            {`${i === cursor ? '›' : ' '} ${fit(oneLine(r.name), 18)} ${fit(oneLine(r.desired ?? '-'), 10)} ${fit(oneLine(r.running ?? '-'), 10)} `}
            <Text {...tone(ready ? (ready.status === 'True' ? 'good' : 'bad') : 'dim', p.color)}>{fit(ready?.status ?? '-', 8)}</Text>
            <Text {...tone(r.drift ? (r.drift.drifted ? 'bad' : 'good') : 'dim', p.color)}>{` ${r.drift ? (r.drift.drifted ? `drifted: ${oneLine(r.drift.columns.join(', '))}` : 'no drift') : 'no report'}`}</Text>
          </Text>
        );
      })}
      <Text> </Text>
      {cur.problem ? <Text {...tone('bad', p.color)}>{oneLine(cur.problem)}</Text> : null}
      {cur.conditions.map((c) => (
        <Text key={c.type} wrap="truncate-end">{`${fit(oneLine(c.type), 12)} ${fit(oneLine(c.status), 7)} ${oneLine(c.reason ?? '')}${c.message ? `: ${oneLine(c.message)}` : ''}`}</Text>
      ))}
    </Box>
  );
}
