import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Runner } from '../../action/runner.js';
import { retryDelay } from '../../action/github.js';
import { parseParams } from '../../action/run.js';
import { removeDir, tmpDir } from '../support/repo.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

describe("the runner's file formats", () => {
  it('escapes workflow command data and properties as the toolkit does', () => {
    const out: string[] = [];
    const r = new Runner({}, (s) => out.push(s));
    r.error('50% off\nnext line', { file: 'gitml/experiments/a,b.yaml', line: 7, col: 12, title: 'gitml: bad' });
    r.warning('no position', { line: 0 });
    expect(out).toEqual(['::error file=gitml/experiments/a%2Cb.yaml,line=7,col=12,title=gitml%3A bad::50%25 off%0Anext line\n', '::warning::no position\n']);
  });

  it('reads inputs as the runner passes them and writes outputs with a heredoc delimiter', () => {
    const dir = tmpDir('gitml-runner-');
    dirs.push(dir);
    const file = path.join(dir, 'out');
    writeFileSync(file, '');
    const r = new Runner({ 'INPUT_GITHUB-TOKEN': ' t ', 'INPUT_FAIL-ON-REGRESSION': 'TRUE', INPUT_COMMENT: 'loud', GITHUB_OUTPUT: file });
    expect(r.input('github-token')).toBe('t');
    expect(r.bool('fail-on-regression')).toBe(true);
    expect(() => r.choice('comment', ['sticky', 'new', 'off'])).toThrow(/not one of sticky, new, off/);
    r.output('report-path', 'a\nb');
    expect(readFileSync(file, 'utf8')).toMatch(/^report-path<<(ghadelimiter_[0-9a-f-]+)\na\nb\n\1\n$/);
  });

  it('dispatch params', () => {
    expect(parseParams('acc=0.5\nname=a=b, lr=0.1')).toEqual({ acc: '0.5', name: 'a=b', lr: '0.1' });
    expect(() => parseParams('oops')).toThrow(/KEY=VALUE/);
  });
});

describe('REST retries', () => {
  const o = { backoffMs: 100, now: () => 1_000_000 };
  it.each([
    ['5xx backs off exponentially', { status: 502 }, 3, 400],
    ['Retry-After is honoured', { status: 503, response: { headers: { 'retry-after': '7' } } }, 1, 7000],
    ['rate limit waits for the reset', { status: 403, response: { headers: { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '1030' } } }, 1, 30_000],
    ['a plain 403 is not retried', { status: 403, response: { headers: { 'x-ratelimit-remaining': '10' } } }, 1, undefined],
    ['a 422 is not retried', { status: 422 }, 1, undefined],
  ])('%s', (_t, e, attempt, want) => {
    expect(retryDelay(e, attempt, o)).toBe(want);
  });
});
