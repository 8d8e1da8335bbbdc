import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { git, gitml, makeRepo, tmpDir } from '../support/repo.js';

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe.each(['sklearn', 'python'])('gitml init --template %s', (template) => {
  const parent = tmpDir();
  dirs.push(parent);
  const dir = path.join(parent, 'demo');

  test('creates a repository, commits, and validates', () => {
    const r = gitml(parent, ['init', 'demo', '--template', template]);
    expect(r.code, r.stderr).toBe(0);
    expect(git(dir, 'log', '--format=%s')).toBe(`gitml init (template: ${template})`);
    expect(git(dir, 'status', '--porcelain')).toBe('');
    const files = git(dir, 'ls-files').split('\n');
    for (const f of ['gitml.yaml', 'gitml/experiments/train.yaml', 'gitml/compute/local.yaml', 'gitml/compute/docker.yaml', 'gitml/models/iris.yaml', 'gitml/services/iris.yaml', 'src/train.py', 'data/iris.csv', '.gitml/schemas/experiment.schema.json']) {
      expect(files).toContain(f);
    }
    const v = gitml(dir, ['validate']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/valid/);
  });

  test('every YAML file points yaml-language-server at a schema that exists', () => {
    const files = git(dir, 'ls-files', '*.yaml').split('\n');
    for (const f of files) {
      const first = readFileSync(path.join(dir, f), 'utf8').split('\n')[0];
      const m = /^# yaml-language-server: \$schema=(.+)$/.exec(first);
      expect(m, f).not.toBeNull();
      expect(() => readFileSync(path.resolve(path.dirname(path.join(dir, f)), m![1]))).not.toThrow();
    }
  });

  test('a typo in any generated file is reported at its line and column, exit 1', () => {
    const files = git(dir, 'ls-files', 'gitml.yaml', 'gitml/').split('\n');
    for (const f of files) {
      const full = path.join(dir, f);
      const text = readFileSync(full, 'utf8');
      const lines = text.split('\n');
      const i = lines.findIndex((l) => /^description:/.test(l));
      lines[i] = lines[i].replace('description:', 'descripton:');
      writeFileSync(full, lines.join('\n'));
      const r = gitml(dir, ['validate']);
      writeFileSync(full, text);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`${f}:${i + 1}:1: unknown field \`descripton\`; did you mean \`description\`?`);
    }
  });
});

describe('gitml init and validate edge cases', () => {
  test('init into an existing repository keeps its history and refuses to overwrite', () => {
    const dir = makeRepo({ 'README.md': '# mine\n', '.gitignore': 'node_modules/\n' });
    dirs.push(dir);
    const r = gitml(dir, ['init', '--template', 'python']);
    expect(r.code, r.stderr).toBe(0);
    expect(git(dir, 'rev-list', '--count', 'HEAD')).toBe('2');
    expect(readFileSync(path.join(dir, '.gitignore'), 'utf8')).toMatch(/^node_modules\/\n.*\.gitml\/cache\//s);
    const again = gitml(dir, ['init', '--template', 'python']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/refusing to overwrite/);
    expect(again.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });

  test('validate --json lists problems with positions; --rev reads history', () => {
    const parent = tmpDir();
    dirs.push(parent);
    expect(gitml(parent, ['init', 'p', '--template', 'python']).code).toBe(0);
    const dir = path.join(parent, 'p');
    writeFileSync(path.join(dir, 'gitml/compute/local.yaml'), 'kind: ComputeTarget\ntype: lcoal\n');
    const r = gitml(dir, ['validate', '--json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout);
    expect(out.valid).toBe(false);
    expect(out.errors[0]).toMatchObject({ file: 'gitml/compute/local.yaml', line: 2, col: 7, code: 'schema' });
    expect(gitml(dir, ['validate', '--rev', 'HEAD']).code).toBe(0);
    expect(gitml(dir, ['validate', '--rev', 'nope']).code).toBe(2);
  });

  test('usage errors exit 2; outside a repository is a clear error; no stack traces', () => {
    const empty = tmpDir();
    dirs.push(empty);
    const r = gitml(empty, ['validate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not inside a git repository/);
    expect(gitml(empty, ['validate', '--bogus']).code).toBe(2);
    expect(gitml(empty, ['no-such-command']).code).toBe(2);
    expect(gitml(empty, ['init', '--template', 'rust']).code).toBe(2);
    const missing = makeRepo({ 'x.txt': 'x' });
    dirs.push(missing);
    const m = gitml(missing, ['validate']);
    expect(m.code).toBe(1);
    expect(m.stderr).toMatch(/no gitml.yaml/);
  });
});
