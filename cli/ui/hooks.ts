/**
 * Hooks for the UI's side effects: the terminal size (follows resize), data loaded in the
 * background (with the error kept for the view, never thrown into ink), the refs poll that
 * drives live updates, and the command map bound to ink's input.
 */
import { createContext, useContext, useEffect, useRef, useState } from 'react';
import { useStdout, type Key } from 'ink';
import { isGitmlError } from '../../core/errors.js';
import { commandFor, type CommandId, type Context } from './keys.js';
import { refsSignature } from './model/watch.js';

export interface Size {
  columns: number;
  rows: number;
}

export function useTerminalSize(): Size {
  const { stdout } = useStdout();
  const read = () => ({ columns: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState<Size>(read);
  useEffect(() => {
    const onResize = () => setSize(read());
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout]);
  return size;
}

export interface Loaded<T> {
  value?: T;
  error?: { code: string; message: string };
  loading: boolean;
}

/** Run `load` whenever a dependency changes; a new result replaces the old one only when it arrives (no flicker on reload). */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[], initial?: T): Loaded<T> {
  const [state, setState] = useState<Loaded<T>>(initial === undefined ? { loading: true } : { value: initial, loading: false });
  const first = useRef(initial !== undefined);
  useEffect(() => {
    if (first.current) {
      // The value given at mount stands for the first load.
      first.current = false;
      return;
    }
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (value) => live && setState({ value, loading: false }),
      (e: unknown) => live && setState((s) => ({ value: s.value, loading: false, error: { code: isGitmlError(e) ? e.code : 'INTERNAL', message: (e as Error)?.message ?? String(e) } })),
    );
    return () => {
      live = false;
    };
  }, deps);
  return state;
}

/** A counter that goes up each time the watched refs move (polled every `ms`). */
export function useRefsVersion(dir: string, branches: string[] | undefined, ms: number): number {
  const [version, setVersion] = useState(0);
  const last = useRef<string | undefined>(undefined);
  useEffect(() => {
    if (!branches || ms <= 0) return;
    let live = true;
    let timer: NodeJS.Timeout | undefined;
    const tick = async () => {
      const sig = await refsSignature(dir, branches).catch(() => undefined);
      if (!live) return;
      if (sig !== undefined) {
        if (last.current !== undefined && sig !== last.current) setVersion((v) => v + 1);
        last.current = sig;
      }
      timer = setTimeout(tick, ms);
    };
    void tick();
    return () => {
      live = false;
      if (timer) clearTimeout(timer);
    };
  }, [dir, branches?.join('\0'), ms]);
  return version;
}

export interface KeyHandler {
  ctx: Context;
  on: (id: CommandId) => void;
  raw?: (input: string, key: Key) => boolean;
}

/**
 * The active view's key handler. The app has the one ink input subscription and hands each key
 * to the handler the last render left here: ink subscribes useInput in a passive effect, after
 * the frame is on screen, so a key pressed right after a view appears (or changes) would
 * otherwise be lost or act on the previous render's rows.
 */
export const KeysContext = createContext<{ current: KeyHandler | null }>({ current: null });

/**
 * Bind the command map in `ctx` while `active`: `on` gets the command id; `raw` sees every key
 * first (prompts), returning true when it used it.
 */
export function useCommands(ctx: Context, on: (id: CommandId) => void, o: { active: boolean; raw?: (input: string, key: Key) => boolean }): void {
  const keys = useContext(KeysContext);
  if (o.active) keys.current = { ctx, on, raw: o.raw };
}
