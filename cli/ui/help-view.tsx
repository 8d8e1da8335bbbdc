/**
 * The `?` overlay: every command of the map with its keys and where it works. On a short
 * terminal the list goes in two columns so that every key stays visible at 80x24.
 */
import React from 'react';
import { Box, Text } from 'ink';
import { COMMANDS } from './keys.js';
import { fit } from './model/runs.js';

export function HelpView(p: { width: number; height: number }): React.ReactElement {
  const room = Math.max(1, p.height - 1);
  const wide = COMMANDS.length <= room;
  const rows = COMMANDS.map((c) => (wide ? `${fit(c.keys, 12)} ${fit(c.where ? c.where.join(',') : 'everywhere', 18)} ${c.help}` : `${fit(c.keys, 11)} ${c.help}`));
  let lines = rows;
  if (!wide) {
    const half = Math.ceil(rows.length / 2);
    const w = Math.floor(p.width / 2) - 1;
    lines = rows.slice(0, half).map((r, i) => `${fit(r, w)} ${rows[half + i] ?? ''}`);
  }
  return (
    <Box flexDirection="column">
      <Text bold>Keys (any key closes this help)</Text>
      {lines.slice(0, room).map((r) => (
        <Text key={r} wrap="truncate-end">
          {r}
        </Text>
      ))}
    </Box>
  );
}
