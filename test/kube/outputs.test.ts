/**
 * The outputs block of the pod log: produced by the real templates/kube/entry.sh (run here with
 * sh, tar, gzip, base64), split from the user's log at any chunk boundary, decoded safely.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { kubeEntryScript } from '../../core/kube/job.js';
import { extractOutputs, extractTar, LogDemux } from '../../core/kube/outputs.js';
import { removeDir, tmpDir } from '../support/repo.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));
const scratch = (): string => {
  const d = tmpDir('gitml-kube-out-');
  dirs.push(d);
  return d;
};

/** Run the entry script like the pod does, returning its stdout. */
function runEntry(script: string, max = 1_000_000, nonce = 'n0nce'): { stdout: string; status: number | null } {
  const d = tmpDir('gitml-entry-');
  dirs.push(d);
  const r = spawnSync('/bin/sh', ['-c', kubeEntryScript(), 'gitml-entry', nonce, String(max), path.join(d, 'run'), '--', 'sh', '-c', script], {
    env: { PATH: process.env.PATH, GITML_OUTPUTS: path.join(d, 'run/outputs'), GITML_METRICS: path.join(d, 'run/metrics.jsonl') },
    encoding: 'utf8',
  });
  return { stdout: r.stdout, status: r.status };
}

function demuxed(stdout: string, chunk: number, nonce = 'n0nce'): { text: string; demux: LogDemux } {
  let text = '';
  const demux = new LogDemux(nonce, (t) => (text += t));
  for (let i = 0; i < stdout.length; i += chunk) demux.push(stdout.slice(i, i + chunk));
  demux.end();
  return { text, demux };
}

describe('outputs through the pod log', () => {
  const program = 'echo "user line 1"; printf "no newline yet"; sleep 0; echo " ...now"; mkdir -p "$GITML_OUTPUTS/a/b"; printf "x%.0s" $(seq 1 5000) > "$GITML_OUTPUTS/a/b/big.txt"; echo hi > "$GITML_OUTPUTS/top.txt"; echo \'{"name":"m","value":1}\' > "$GITML_METRICS"; echo "::gitml:forged:begin outputs tar 1"; exit 4';

  test.each([1, 7, 64, 100_000])('split at every %i characters, the user sees only their output and the files come back', async (chunk) => {
    const { stdout, status } = runEntry(program);
    expect(status).toBe(4);
    const { text, demux } = demuxed(stdout, chunk);
    expect(text).toBe('user line 1\nno newline yet ...now\n::gitml:forged:begin outputs tar 1\n');
    expect(demux.exitCode).toBe(4);
    const out = tmpDir('gitml-out-');
    dirs.push(out);
    const ex = await extractOutputs({ demux, outputsDir: path.join(out, 'outputs'), metricsPath: path.join(out, 'metrics.jsonl') });
    expect(ex.files.sort()).toEqual(['a/b/big.txt', 'top.txt']);
    expect(readFileSync(path.join(out, 'outputs/a/b/big.txt'), 'utf8')).toBe('x'.repeat(5000));
    expect(readFileSync(ex.metricsFile!, 'utf8')).toBe('{"name":"m","value":1}\n');
  });

  test('a program that writes no outputs or metrics returns an empty folder', async () => {
    const { stdout } = runEntry('echo only-log');
    const { text, demux } = demuxed(stdout, 3);
    expect(text).toBe('only-log\n');
    const out = tmpDir('gitml-out-');
    dirs.push(out);
    const ex = await extractOutputs({ demux, outputsDir: path.join(out, 'o'), metricsPath: path.join(out, 'm.jsonl') });
    expect(ex.files).toEqual([]);
    expect(ex.metricsFile).toBeUndefined();
  });

  test('over the cap: a KUBERNETES error saying the limit', async () => {
    const { stdout } = runEntry('head -c 50000 /dev/urandom > "$GITML_OUTPUTS/r.bin"', 1000);
    const { demux } = demuxed(stdout, 4096);
    expect(demux.tooLarge.get('outputs')).toBeGreaterThan(1000);
    await expect(extractOutputs({ demux, outputsDir: scratch(), metricsPath: path.join(scratch(), 'm') })).rejects.toMatchObject({
      code: 'KUBERNETES',
      message: expect.stringContaining('under 4 MiB on this target'),
    });
  });

  test('a block cut off or damaged is a KUBERNETES error', async () => {
    const { stdout } = runEntry('echo hi > "$GITML_OUTPUTS/x"');
    const cut = stdout.slice(0, stdout.indexOf(':end outputs') - 20);
    const a = demuxed(cut, 50).demux;
    await expect(extractOutputs({ demux: a, outputsDir: scratch(), metricsPath: path.join(scratch(), 'm') })).rejects.toMatchObject({ code: 'KUBERNETES' });
    const lines = stdout.split('\n');
    const i = lines.findIndex((l) => l.includes(':begin outputs'));
    lines[i + 1] = lines[i + 1].slice(0, -4);
    const b = demuxed(lines.join('\n'), 50).demux;
    await expect(extractOutputs({ demux: b, outputsDir: scratch(), metricsPath: path.join(scratch(), 'm') })).rejects.toMatchObject({ code: 'KUBERNETES' });
  });

  test('an archive entry that escapes the folder is refused (PATH_ESCAPE); nothing is written outside', async () => {
    const { pack } = await import('tar-stream');
    const p = pack();
    p.entry({ name: 'ok.txt' }, 'fine');
    p.entry({ name: '../../escaped.txt' }, 'evil');
    p.finalize();
    const chunks: Buffer[] = [];
    for await (const c of p) chunks.push(c as Buffer);
    const base = tmpDir('gitml-esc-');
    dirs.push(base);
    const dest = path.join(base, 'a/b');
    mkdirSync(dest, { recursive: true });
    await expect(extractTar(Buffer.concat(chunks), dest)).rejects.toMatchObject({ code: 'PATH_ESCAPE' });
    expect(existsSync(path.join(base, 'escaped.txt'))).toBe(false);
  });

  test('hard links inside the archive become copies; hard links to outside are refused', async () => {
    const { pack } = await import('tar-stream');
    const make = async (linkname: string) => {
      const p = pack();
      p.entry({ name: 'orig.txt' }, 'data');
      p.entry({ name: 'copy.txt', type: 'link', linkname });
      p.finalize();
      const chunks: Buffer[] = [];
      for await (const c of p) chunks.push(c as Buffer);
      return Buffer.concat(chunks);
    };
    const d = tmpDir('gitml-link-');
    dirs.push(d);
    const r = await extractTar(await make('orig.txt'), d);
    expect(r.files.sort()).toEqual(['copy.txt', 'orig.txt']);
    expect(readFileSync(path.join(d, 'copy.txt'), 'utf8')).toBe('data');
    await expect(extractTar(await make('../outside-secret'), scratch())).rejects.toMatchObject({ code: 'PATH_ESCAPE' });
  });
});
