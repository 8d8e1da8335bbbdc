/**
 * Following a pod's log through network trouble. A follow stream can be cut by a proxy, a
 * load balancer's idle timeout or a kubelet restart; like any other transient failure the
 * follow is retried, resuming at the time of the last line seen (`timestamps` + `sinceTime`)
 * and skipping what was already delivered, so a reader sees each line once.
 *
 * @example
 *   await followLog(kube, 'iris-7d9f-abcde', 'server', { signal, onText: (t) => process.stdout.write(t) });
 */
import { GitmlError, isGitmlError } from '../errors.js';
import type { KubeApi } from './client.js';
import { sleep } from '../sleep.js';

export interface FollowLogOptions {
  signal?: AbortSignal;
  /** Log text without the timestamps, whole lines. */
  onText: (text: string) => void;
  /** Failures in a row before giving up (a stream that delivered lines resets the count). */
  retries?: number;
  /** First pause between attempts; doubles each time. */
  backoffMs?: number;
  /**
   * Whether the container may still write: a stream that ended while it does was cut, not
   * finished. Default: the pod exists and its container has not terminated.
   */
  stillRunning?: () => Promise<boolean>;
  /** Told about each retry (for progress lines). */
  onRetry?: (attempt: number, reason: string) => void;
}

/** RFC 3339 times with their fraction padded to nine digits, so they sort as strings. */
export function comparableTime(ts: string): string {
  const m = /^(.*T\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})$/.exec(ts);
  if (!m) return ts;
  return `${m[1]}.${(m[2] ?? '').padEnd(9, '0').slice(0, 9)}${m[3]}`;
}


/** A network cut, an overloaded or restarting API server: worth another try. 4xx answers are not. */
export function isTransient(e: unknown): boolean {
  return isGitmlError(e) && e.retryable;
}

export async function followLog(kube: KubeApi, pod: string, container: string, opts: FollowLogOptions): Promise<void> {
  const retries = opts.retries ?? 5;
  let backoff = opts.backoffMs ?? 200;
  let failures = 0;
  let last: string | undefined;
  /** Lines delivered with the timestamp `last`: several lines may share one (a kubelet with a coarse clock, a burst). */
  let atLast = 0;
  const running =
    opts.stillRunning ??
    (async () => {
      try {
        const p = await kube.readPod(pod);
        const st = p.status?.containerStatuses?.find((c) => c.name === container)?.state;
        return !st?.terminated && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
      } catch (e) {
        if (isGitmlError(e, 'KUBERNETES') && e.data.status === 404) return false;
        throw e;
      }
    });
  for (;;) {
    let partial = '';
    let delivered = false;
    // A resumed stream starts at `sinceTime` = the last line's time: what came before it, and
    // the lines of that very time already delivered, are skipped; nothing else is.
    const resumedAt = last;
    let skipAtLast = atLast;
    const onData = (chunk: string): void => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      let out = '';
      for (const line of lines) {
        const sp = line.indexOf(' ');
        const ts = sp > 0 ? line.slice(0, sp) : '';
        const key = comparableTime(ts);
        if (resumedAt !== undefined && key < resumedAt) continue; // delivered before the cut
        if (resumedAt !== undefined && key === resumedAt && skipAtLast > 0) {
          skipAtLast--;
          continue;
        }
        if (key === last) atLast++;
        else {
          last = key;
          atLast = 1;
        }
        out += `${sp > 0 ? line.slice(sp + 1) : line}\n`;
      }
      if (out) {
        delivered = true;
        opts.onText(out);
      }
    };
    let reason: string;
    try {
      await kube.streamPodLog(pod, container, onData, { follow: true, signal: opts.signal, timestamps: true, ...(last ? { sinceTime: last } : {}) });
      if (opts.signal?.aborted) return;
      if (!(await running())) {
        if (partial) onData('\n');
        return;
      }
      reason = 'the log stream ended while the container still runs';
    } catch (e) {
      if (opts.signal?.aborted) return;
      if (!isTransient(e)) throw e;
      reason = (e as Error).message;
    }
    if (delivered) {
      failures = 0;
      backoff = opts.backoffMs ?? 200;
    }
    if (++failures > retries) {
      throw new GitmlError('KUBERNETES_UNAVAILABLE', `cannot follow the log of pod ${pod}: ${failures - 1} retries failed (${reason})`, { pod, container, reason }, { retryable: true });
    }
    opts.onRetry?.(failures, reason);
    await sleep(backoff, opts.signal);
    backoff = Math.min(backoff * 2, 5000);
    if (opts.signal?.aborted) return;
  }
}
