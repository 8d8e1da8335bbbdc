/**
 * followLog with lines that share a timestamp (a burst within the clock's resolution, as the
 * outputs block is): every line is delivered once, also across a cut stream resumed at the
 * last line's time, where the server sends that time's lines again.
 */
import { expect, test } from 'vitest';
import { GitmlError } from '../../core/errors.js';
import type { KubeApi } from '../../core/kube/client.js';
import { followLog } from '../../core/kube/log-follow.js';

const T1 = '2026-12-04T10:00:00.001Z';
const T2 = '2026-12-04T10:00:00.002Z';
const LINES = [`${T1} a`, `${T1} b`, `${T2} c`, `${T2} d`, `${T2} e`, `${T2} f`];

/** A stream that sends `cutAfter` lines, then fails as a dropped connection does; resumes honour sinceTime (inclusive). */
function fakeKube(cutAfter: number): { kube: KubeApi; calls: Array<string | undefined> } {
  const calls: Array<string | undefined> = [];
  const kube = {
    async streamPodLog(_pod: string, _c: string, onData: (s: string) => void, o: { sinceTime?: string }) {
      calls.push(o.sinceTime);
      const from = o.sinceTime ? LINES.filter((l) => l.slice(0, l.indexOf(' ')) >= o.sinceTime!) : LINES;
      const send = calls.length === 1 ? from.slice(0, cutAfter) : from;
      // Chunks that split lines, as a network does.
      const text = send.map((l) => `${l}\n`).join('');
      for (let i = 0; i < text.length; i += 7) onData(text.slice(i, i + 7));
      if (calls.length === 1) throw new GitmlError('KUBERNETES_UNAVAILABLE', 'stream cut', {}, { retryable: true });
    },
  } as unknown as KubeApi;
  return { kube, calls };
}

for (const cutAfter of [0, 1, 2, 3, 4, 6]) {
  test(`six lines in two timestamps, the stream cut after ${cutAfter}: each line once, in order`, async () => {
    const { kube, calls } = fakeKube(cutAfter);
    let out = '';
    await followLog(kube, 'pod', 'c', { onText: (t) => (out += t), backoffMs: 1, stillRunning: async () => false });
    expect(out).toBe('a\nb\nc\nd\ne\nf\n');
    expect(calls).toHaveLength(2);
  });
}
