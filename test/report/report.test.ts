import { afterAll, describe, expect, it } from 'vitest';
import { buildReport, mermaidChart, parseThreshold, regressed, renderMarkdown, REPORT_MARKER } from '../../core/report/index.js';
import { runExperiment } from '../../core/run/run-experiment.js';
import { closeRunStore } from '../../core/runs/index.js';
import { git, gitml, makeRepo, removeDir, writeFiles } from '../support/repo.js';

/** An experiment whose accuracy is its `acc` param, reported over three steps. */
const TRAIN = (acc: number) => `kind: Experiment
command: [python3, -c, "import sys; a=float(sys.argv[1]); [print(f'::gitml metric name=accuracy value={a if i == 2 else a*(i+1)/3} step={i}') for i in range(3)]; print(f'::gitml metric name=loss value={1-a}'); sys.exit(1 if a < 0 else 0)", "\${{params.acc}}"]
params: { acc: ${acc} }
metrics: { primary: accuracy, goal: maximize }
triggers: {}
`;

const dirs: string[] = [];
afterAll(() => {
  closeRunStore();
  for (const d of dirs) removeDir(d);
});

function repo(acc = 0.8): string {
  const dir = makeRepo({
    'gitml.yaml': 'kind: Workspace\nname: rep\ndefaults:\n  compute: local\n',
    'gitml/compute/local.yaml': 'kind: ComputeTarget\ntype: local\n',
    'gitml/experiments/train.yaml': TRAIN(acc),
  });
  dirs.push(dir);
  return dir;
}

function commitOn(dir: string, branch: string, files: Record<string, string>): string {
  git(dir, 'checkout', '-q', '-B', branch);
  writeFiles(dir, files);
  git(dir, 'add', '-A');
  git(dir, 'commit', '-q', '-m', 'change');
  return git(dir, 'rev-parse', 'HEAD');
}

describe('buildReport on real runs', () => {
  it('compares head with the run at the merge-base, primary metric first, judged by the goal', async () => {
    const dir = repo(0.8);
    await runExperiment({ dir, experiment: 'train' });
    commitOn(dir, 'feature', { 'gitml/experiments/train.yaml': TRAIN(0.6) });
    await runExperiment({ dir, experiment: 'train' });
    const r = await buildReport({ dir, base: 'main', head: 'feature', threshold: '5%' });
    expect(r.experiments).toHaveLength(1);
    const e = r.experiments[0];
    expect(e.baseFrom).toBe('merge-base');
    expect(e.metrics.map((m) => m.name)).toEqual(['accuracy', 'loss']);
    expect(e.metrics[0]).toMatchObject({ primary: true, base: 0.8, head: 0.6, change: 'worse' });
    expect(e.metrics[0].delta).toBeCloseTo(-0.2);
    expect(e.metrics[1]).toMatchObject({ change: 'worse', goal: 'minimize' });
    expect(e.params).toEqual([{ name: 'acc', base: 0.8, head: 0.6 }]);
    expect(e.series?.base.map((p) => p.step)).toEqual([0, 1, 2]);
    expect(r.regressed).toBe(true);
    const md = renderMarkdown(r, { marker: true, repoUrl: 'https://github.com/o/r' }).text;
    expect(md.startsWith(REPORT_MARKER)).toBe(true);
    expect(md).toContain('| **accuracy** (primary, maximize) | 0.8 | 0.6 | -0.2 | ❌ worse |');
    expect(md).toContain('```mermaid\nxychart-beta');
    expect(md).toContain(`https://github.com/o/r/tree/runs/train/`);
    // Within the threshold it is no regression.
    expect((await buildReport({ dir, base: 'main', head: 'feature', threshold: '0.25' })).regressed).toBe(false);
  });

  it('falls back to the base branch newest run, and says "no base run" when there is none', async () => {
    const dir = repo(0.5);
    // No run on main at all: no base run.
    commitOn(dir, 'feature', { 'gitml/experiments/train.yaml': TRAIN(0.7) });
    await runExperiment({ dir, experiment: 'train' });
    const none = await buildReport({ dir, base: 'main', head: 'feature' });
    expect(none.experiments[0].base).toBeUndefined();
    expect(none.regressed).toBe(false);
    expect(renderMarkdown(none).text).toContain('no base run');
    // A run on a later main commit (not the merge-base): the base branch's newest run.
    git(dir, 'checkout', '-q', 'main');
    commitOn(dir, 'main', { 'README.md': 'x\n' });
    await runExperiment({ dir, experiment: 'train' });
    const later = await buildReport({ dir, base: 'main', head: 'feature' });
    expect(later.experiments[0]).toMatchObject({ baseFrom: 'base-branch', metrics: [{ name: 'accuracy', base: 0.5, head: 0.7, change: 'better' }, expect.anything()] });
  });

  it('reports a head run that failed', async () => {
    const dir = repo(0.5);
    await runExperiment({ dir, experiment: 'train' });
    commitOn(dir, 'feature', { 'gitml/experiments/train.yaml': TRAIN(-1) });
    await runExperiment({ dir, experiment: 'train' });
    const r = await buildReport({ dir, base: 'main', head: 'feature' });
    expect(r.failed).toBe(true);
    expect(r.experiments[0].head?.status).toBe('failed');
    expect(renderMarkdown(r).text).toContain('head run failed');
    // The CLI prints the same report, as JSON too, and fails on regression when asked.
    const cli = gitml(dir, ['report', '--base', 'main', '--head', 'feature', '--json']);
    expect(cli.code).toBe(0);
    expect(JSON.parse(cli.stdout).failed).toBe(true);
    expect(gitml(dir, ['report', '--base', 'main', '--head', 'feature', '--fail-on-regression']).code).toBe(1);
    expect(gitml(dir, ['report', '--base', 'nope', '--head', 'feature']).code).toBe(2);
  });
});

describe('report pieces (pure)', () => {
  it('thresholds', () => {
    expect(parseThreshold('2%')).toMatchObject({ amount: 0.02, relative: true });
    expect(() => parseThreshold('abc')).toThrow(expect.objectContaining({ code: 'USAGE' }));
    expect(regressed(0.9, 0.89, 'maximize', parseThreshold('0.02'))).toBe(false);
    expect(regressed(0.9, 0.85, 'maximize', parseThreshold('0.02'))).toBe(true);
    expect(regressed(1, 1.1, 'minimize', parseThreshold('5%'))).toBe(true);
    expect(regressed(1, 0.5, 'minimize', parseThreshold('0'))).toBe(false);
  });

  it('aligns base and head series on the same steps', () => {
    const c = mermaidChart({ metric: 'acc', base: [{ step: 0, value: 1 }, { step: 2, value: 3 }], head: [{ step: 1, value: 2 }] })!;
    expect(c).toContain('x-axis "step" [0, 1, 2]');
    expect(c).toContain('line [1, 1, 3]');
    expect(c).toContain('line [2, 2, 2]');
  });

  it('cuts at experiment boundaries with a note when over the limit', () => {
    const exp = (i: number) => ({
      experiment: `e${i}`,
      primary: 'acc',
      goal: 'maximize' as const,
      metrics: Array.from({ length: 40 }, (_, k) => ({ name: `m${k}`, primary: k === 0, base: k, head: k + 1, delta: 1, change: 'unjudged' as const })),
      params: [],
      series: { metric: 'acc', base: Array.from({ length: 60 }, (_, s) => ({ step: s, value: s })), head: [] },
      regressed: false,
    });
    const r = { base: { rev: 'main', commit: 'a'.repeat(40) }, head: { rev: 'pr', commit: 'b'.repeat(40) }, threshold: '0', experiments: Array.from({ length: 100 }, (_, i) => exp(i)), regressed: false, failed: false };
    const out = renderMarkdown(r, { limit: 65_536, fullReportAt: 'the job summary' });
    expect(out.text.length).toBeLessThanOrEqual(65_536);
    expect(out.cut.experiments).toBeGreaterThan(0);
    expect(out.text).toContain("Cut to fit GitHub's size limit");
    // No table is cut in half: the text ends with whole experiment blocks, then the note.
    const beforeNote = out.text.slice(0, out.text.indexOf('\n---\n'));
    expect(beforeNote.trimEnd().endsWith('|')).toBe(true);
    expect(out.text).not.toContain('```mermaid');
  });
});
