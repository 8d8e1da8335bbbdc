/**
 * Service health from the replicas' `/metrics` (Prometheus text format, as gitml's scoring
 * server writes it): requests and their rate since each replica started, error share by
 * status code, and p50 / p95 / p99 latency estimated from the duration histogram (linear
 * interpolation inside a bucket, as Prometheus' histogram_quantile does); requests are the scoring
 * requests (POST); probes, scrapes and metadata reads are left out. A replica that does
 * not answer is reported as down; the others still count.
 *
 * Example:
 *   const h = await scrapeHealth({ urls: ['http://127.0.0.1:8080/metrics'] });
 *   h.latency.p99   // seconds
 */

export interface ReplicaHealth {
  url: string;
  up: boolean;
  error?: string;
  requests?: number;
  startedAt?: number;
  ready?: boolean;
}

export interface HealthReport {
  replicas: ReplicaHealth[];
  up: number;
  down: number;
  requests: number;
  /** Requests per second, each replica since its start, summed. */
  rate: number;
  byCode: Record<string, number>;
  /** Share of requests answered 4xx and 5xx. */
  errorRate: { client: number; server: number };
  latency: { p50: number | null; p95: number | null; p99: number | null };
}

/** Probe and scrape routes: not traffic (readiness probes answer 503 while a model loads). */
const NOT_TRAFFIC = new Set(['/metrics', '/ping', '/health', '/v2/health/live', '/v2/health/ready']);

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition: `name{a="b",...} value` lines; comments and blank lines skipped. */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    if (m[3]) for (const l of m[3].matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    const value = m[4] === '+Inf' ? Infinity : Number(m[4]);
    if (!Number.isNaN(value)) out.push({ name: m[1], labels, value });
  }
  return out;
}

/** The q-quantile of a cumulative histogram {le -> count} (Prometheus' histogram_quantile). */
export function histogramQuantile(q: number, buckets: Array<[number, number]>): number | null {
  const b = [...buckets].sort((x, y) => x[0] - y[0]);
  const total = b.length ? b[b.length - 1][1] : 0;
  if (!total) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of b) {
    if (count >= rank) {
      if (le === Infinity) return prevLe; // beyond the largest finite bucket: its bound
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(count - prevCount, 1e-300);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

export async function scrapeHealth(o: { urls: string[]; timeoutMs?: number; now?: () => number; fetch?: typeof fetch }): Promise<HealthReport> {
  const f = o.fetch ?? fetch;
  const now = (o.now ?? Date.now)() / 1000;
  const byCode: Record<string, number> = {};
  const buckets = new Map<number, number>();
  let requests = 0;
  let rate = 0;
  const replicas: ReplicaHealth[] = await Promise.all(
    o.urls.map(async (url): Promise<ReplicaHealth> => {
      let text: string;
      try {
        const res = await f(url, { signal: AbortSignal.timeout(o.timeoutMs ?? 3000) });
        if (!res.ok) return { url, up: false, error: `HTTP ${res.status}` };
        text = await res.text();
      } catch (e) {
        const err = e as Error & { cause?: { code?: string; message?: string } };
        return { url, up: false, error: err.cause?.code ?? err.cause?.message ?? err.message };
      }
      const samples = parsePrometheus(text);
      let n = 0;
      let started: number | undefined;
      let ready: boolean | undefined;
      for (const s of samples) {
        if (s.name === 'gitml_requests_total' && s.labels.method === 'POST' && !NOT_TRAFFIC.has(s.labels.route)) {
          n += s.value;
          byCode[s.labels.code ?? '?'] = (byCode[s.labels.code ?? '?'] ?? 0) + s.value;
        } else if (s.name === 'gitml_request_duration_seconds_bucket' && !NOT_TRAFFIC.has(s.labels.route) && s.labels.le !== undefined) {
          const le = s.labels.le === '+Inf' ? Infinity : Number(s.labels.le);
          buckets.set(le, (buckets.get(le) ?? 0) + s.value);
        } else if (s.name === 'gitml_process_start_time_seconds') started = s.value;
        else if (s.name === 'gitml_model_ready') ready = s.value === 1;
      }
      requests += n;
      if (started !== undefined && now > started) rate += n / (now - started);
      return { url, up: true, requests: n, startedAt: started, ready };
    }),
  );
  const share = (pred: (code: number) => boolean) => (requests ? Object.entries(byCode).reduce((a, [c, v]) => a + (pred(Number(c)) ? v : 0), 0) / requests : 0);
  const hist = [...buckets.entries()];
  return {
    replicas,
    up: replicas.filter((r) => r.up).length,
    down: replicas.filter((r) => !r.up).length,
    requests,
    rate,
    byCode,
    errorRate: { client: share((c) => c >= 400 && c < 500), server: share((c) => c >= 500) },
    latency: { p50: histogramQuantile(0.5, hist), p95: histogramQuantile(0.95, hist), p99: histogramQuantile(0.99, hist) },
  };
}
