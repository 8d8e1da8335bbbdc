/**
 * The REST client: @octokit/rest against `GITHUB_API_URL`, with retries. 5xx answers and
 * rate limits (403/429 with `x-ratelimit-remaining: 0` or a `Retry-After`) are retried with
 * exponential backoff, waiting as long as `Retry-After` (or `x-ratelimit-reset`) says when it
 * says, up to `maxWaitMs` a wait; anything else is the caller's to handle.
 */
import { Octokit } from '@octokit/rest';

export interface ClientOptions {
  token: string;
  baseUrl: string;
  /** Attempts in all, the first included. */
  attempts?: number;
  /** First backoff; doubled each retry. */
  backoffMs?: number;
  /** The longest single wait; a Retry-After beyond it fails instead of hanging the job. */
  maxWaitMs?: number;
  log?: (message: string) => void;
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}

interface HttpishError {
  status?: number;
  response?: { headers?: Record<string, string | number | undefined> };
}

/** How long to wait before retrying `e`, or undefined when retrying does not help. */
export function retryDelay(e: HttpishError, attempt: number, o: { backoffMs: number; now: () => number }): number | undefined {
  const status = e.status ?? 0;
  const h = e.response?.headers ?? {};
  const retryAfter = h['retry-after'] !== undefined ? Number(h['retry-after']) : undefined;
  const rateLimited = (status === 403 || status === 429) && (String(h['x-ratelimit-remaining']) === '0' || retryAfter !== undefined);
  if (!rateLimited && !(status >= 500 && status <= 599)) return undefined;
  if (retryAfter !== undefined && Number.isFinite(retryAfter)) return Math.max(0, retryAfter * 1000);
  if (rateLimited && h['x-ratelimit-reset'] !== undefined) return Math.max(0, Number(h['x-ratelimit-reset']) * 1000 - o.now());
  return o.backoffMs * 2 ** (attempt - 1);
}

export function githubClient(o: ClientOptions): Octokit {
  const attempts = o.attempts ?? 4;
  const backoffMs = o.backoffMs ?? 1000;
  const maxWaitMs = o.maxWaitMs ?? 120_000;
  const sleep = o.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = o.now ?? Date.now;
  const octokit = new Octokit({ auth: o.token, baseUrl: o.baseUrl.replace(/\/+$/, ''), userAgent: 'gitml-action', log: { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} } });
  octokit.hook.wrap('request', async (request, options) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await request(options);
      } catch (e) {
        const wait = attempt < attempts ? retryDelay(e as HttpishError, attempt, { backoffMs, now }) : undefined;
        if (wait === undefined || wait > maxWaitMs) throw e;
        o.log?.(`GitHub answered ${(e as HttpishError).status} to ${options.method} ${options.url}; retrying in ${(wait / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${attempts})`);
        await sleep(wait);
      }
    }
  });
  return octokit;
}
