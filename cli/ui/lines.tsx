/**
 * A scrolled block of one-line rows: what the detail, compare, model and help screens draw.
 * Only the rows in the window are rendered.
 */
import React from 'react';
import { Box, Text } from 'ink';
import { tone, type Tone } from './theme.js';

export interface Seg {
  text: string;
  tone?: Tone;
  bold?: boolean;
}

export type Line = string | Seg[];

export function Lines(p: { lines: Line[]; offset: number; height: number; width: number; color: boolean }): React.ReactElement {
  const shown = p.lines.slice(p.offset, p.offset + p.height);
  return (
    <Box flexDirection="column">
      {shown.map((l, i) => (
        <Text key={p.offset + i} wrap="truncate-end">
          {typeof l === 'string'
            ? l.slice(0, p.width) || ' '
            : l.map((s, j) => (
                <Text key={j} bold={s.bold} {...tone(s.tone, p.color)}>
                  {s.text}
                </Text>
              ))}
        </Text>
      ))}
    </Box>
  );
}

/** Scroll position after a movement command, kept inside the content. */
export function scroll(offset: number, id: string, total: number, height: number): number {
  const max = Math.max(0, total - height);
  const page = Math.max(1, height - 1);
  const next =
    id === 'down' ? offset + 1 : id === 'up' ? offset - 1 : id === 'pageDown' ? offset + page : id === 'pageUp' ? offset - page : id === 'top' ? 0 : id === 'bottom' ? max : offset;
  return Math.max(0, Math.min(max, next));
}

/** Label/value rows with aligned labels. */
export function kvLines(rows: Array<[string, string]>, o: { labelTone?: Tone } = {}): Line[] {
  const w = Math.max(0, ...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => [{ text: k.padEnd(w) + '  ', bold: true, tone: o.labelTone }, { text: v }]);
}
