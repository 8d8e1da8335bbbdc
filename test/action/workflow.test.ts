import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { NoOperationTraceWriter, parseWorkflow } from '@actions/workflow-parser';
import { parseAction } from '@actions/workflow-parser/actions/action-parser';
import { initRepo } from '../../core/init.js';
import { ROOT, removeDir, tmpDir } from '../support/repo.js';

// GitHub's own parser and schemas for workflows and action metadata (the ones the Actions
// service and its VS Code extension validate with).
const errorsOf = (r: { context: { errors: { getErrors(): Array<{ message: string }> } } }) => r.context.errors.getErrors().map((e) => e.message);

const dirs: string[] = [];
afterAll(() => dirs.forEach(removeDir));

describe('action.yml and the workflow gitml init writes', () => {
  it('action.yml is valid action metadata, runs the committed bundle on node20, and documents every input and output', () => {
    const text = readFileSync(path.join(ROOT, 'action.yml'), 'utf8');
    expect(errorsOf(parseAction({ name: 'action.yml', content: text }, new NoOperationTraceWriter()))).toEqual([]);
    const meta = parse(text);
    expect(meta.runs).toEqual({ using: 'node20', main: 'action/dist/index.mjs' });
    expect(readFileSync(path.join(ROOT, meta.runs.main)).length).toBeGreaterThan(0);
    expect(Object.keys(meta.inputs)).toEqual(expect.arrayContaining(['github-token', 'command', 'experiments', 'compute', 'remote', 'fail-on-regression', 'regression-threshold', 'comment']));
    expect(Object.keys(meta.outputs)).toEqual(['run-ids', 'report-path', 'regressed']);
    for (const v of [...Object.values(meta.inputs), ...Object.values(meta.outputs)] as Array<{ description?: string }>) expect(v.description?.length).toBeGreaterThan(20);
    // The schema itself refuses what is wrong (the check can fail).
    expect(errorsOf(parseAction({ name: 'action.yml', content: text.replace('using: node20', 'using: node99') }, new NoOperationTraceWriter()))).not.toEqual([]);
  });

  it('gitml init writes .github/workflows/gitml.yml: a valid workflow, least permissions per job, inputs the action has', async () => {
    const dir = tmpDir('gitml-init-wf-');
    dirs.push(dir);
    const r = await initRepo({ dir, template: 'python' });
    expect(r.files).toContain('.github/workflows/gitml.yml');
    const text = readFileSync(path.join(dir, '.github/workflows/gitml.yml'), 'utf8');
    const parsed = parseWorkflow({ name: 'gitml.yml', content: text }, new NoOperationTraceWriter());
    expect(errorsOf(parsed)).toEqual([]);
    const wf = parse(text);
    expect(wf.permissions).toEqual({});
    expect(wf.jobs.run.permissions).toEqual({ contents: 'write' });
    expect(wf.jobs.report.permissions).toEqual({ contents: 'read', 'pull-requests': 'write', checks: 'write' });
    expect(wf.jobs.deploy.permissions).toEqual({ contents: 'read' });
    expect(Object.keys(wf.on)).toEqual(['push', 'pull_request', 'workflow_dispatch']);
    const inputs = Object.keys(parse(readFileSync(path.join(ROOT, 'action.yml'), 'utf8')).inputs);
    for (const job of Object.values<{ steps: Array<{ uses: string; with?: Record<string, string> }> }>(wf.jobs)) {
      const step = job.steps.find((s) => s.uses.startsWith('gitml/'))!;
      for (const k of Object.keys(step.with ?? {})) expect(inputs).toContain(k);
    }
  });
});
