// Parsing /metrics and latency quantiles from a cumulative histogram, against hand-computed values.
import { describe, expect, it } from 'vitest';
import { histogramQuantile, parsePrometheus, scrapeHealth } from '../../core/monitor/health.js';

const METRICS = [
  '# TYPE gitml_requests_total counter',
  'gitml_requests_total{route="/score",method="POST",code="200"} 90',
  'gitml_requests_total{route="/score",method="POST",code="400"} 8',
  'gitml_requests_total{route="/score",method="POST",code="500"} 2',
  'gitml_requests_total{route="/metrics",method="GET",code="200"} 5',
  'gitml_requests_total{route="/v2/health/ready",method="GET",code="503"} 7',
  'gitml_request_duration_seconds_bucket{route="/score",le="0.001"} 50',
  'gitml_request_duration_seconds_bucket{route="/score",le="0.01"} 90',
  'gitml_request_duration_seconds_bucket{route="/score",le="0.1"} 100',
  'gitml_request_duration_seconds_bucket{route="/score",le="+Inf"} 100',
  'gitml_process_start_time_seconds 1000',
  'gitml_model_ready{model="iris",version="v1"} 1',
].join('\n');

describe('health from /metrics', () => {
  it('parses samples with labels, escapes and +Inf', () => {
    const s = parsePrometheus('a{x="q\\"uote"} 3\n# c\nb +Inf\n');
    expect(s).toEqual([{ name: 'a', labels: { x: 'q"uote' }, value: 3 }, { name: 'b', labels: {}, value: Infinity }]);
  });

  it('quantiles interpolate inside a bucket, as histogram_quantile does', () => {
    const b: Array<[number, number]> = [[0.001, 50], [0.01, 90], [0.1, 100], [Infinity, 100]];
    expect(histogramQuantile(0.5, b)).toBeCloseTo(0.001, 12);
    expect(histogramQuantile(0.7, b)).toBeCloseTo(0.001 + 0.009 * (20 / 40), 12);
    expect(histogramQuantile(0.99, b)).toBeCloseTo(0.01 + 0.09 * (9 / 10), 12);
    expect(histogramQuantile(0.5, [])).toBeNull();
  });

  it('sums replicas, leaves probes and /metrics scrapes out, and reports a replica that is down', async () => {
    const fake = (async (url: string) => {
      if (String(url).includes('down')) throw Object.assign(new Error('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
      return new Response(METRICS);
    }) as unknown as typeof fetch;
    const h = await scrapeHealth({ urls: ['http://a/metrics', 'http://b/metrics', 'http://down/metrics'], fetch: fake, now: () => 1100_000 });
    expect(h).toMatchObject({ up: 2, down: 1, requests: 200, byCode: { '200': 180, '400': 16, '500': 4 }, errorRate: { client: 0.08, server: 0.02 } });
    expect(h.rate).toBeCloseTo(2, 12); // 100 requests in 100 s on each of two replicas
    expect(h.latency.p99).toBeCloseTo(0.01 + 0.09 * (18 / 20), 12);
    expect(h.replicas[2]).toMatchObject({ up: false, error: 'ECONNREFUSED' });
  });
});
