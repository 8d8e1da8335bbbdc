/** The column chooser (`v`): every metric and param, space toggles, enter applies, esc cancels. */
import React, { useState } from 'react';
import { Box, Text } from 'ink';
import { useCommands } from './hooks.js';
import { fit } from './model/runs.js';
import { oneLine } from './model/text.js';
import { scroll } from './lines.js';

export function ColumnsView(p: { all: string[]; chosen: string[]; height: number; active: boolean; onDone: (chosen: string[] | undefined) => void }): React.ReactElement {
  const [sel, setSel] = useState(p.chosen);
  const [cursor, setCursor] = useState(0);
  const h = Math.max(1, p.height - 2);
  const start = Math.max(0, Math.min(cursor - Math.floor(h / 2), p.all.length - h));
  useCommands(
    'columns',
    (id) => {
      if (id === 'mark') {
        const k = p.all[cursor];
        if (k) setSel((s) => (s.includes(k) ? s.filter((x) => x !== k) : [...s, k]));
      } else if (id === 'open') p.onDone(p.all.filter((k) => sel.includes(k)));
      else if (id === 'back') p.onDone(undefined);
      else setCursor((c) => Math.min(Math.max(0, p.all.length - 1), scroll(c, id, p.all.length + 1, 1)));
    },
    { active: p.active },
  );
  return (
    <Box flexDirection="column">
      <Text bold>Columns: space toggles, enter applies, esc cancels</Text>
      {p.all.length === 0 ? <Text>No run records metrics or params.</Text> : null}
      {p.all.slice(start, start + h).map((k, i) => (
        <Text key={k} inverse={start + i === cursor} wrap="truncate-end">
          {`${start + i === cursor ? '›' : ' '}[${sel.includes(k) ? 'x' : ' '}] ${fit(oneLine(k), 60)}`}
        </Text>
      ))}
    </Box>
  );
}
