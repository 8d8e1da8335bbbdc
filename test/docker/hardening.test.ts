/**
 * The run container is non-root, and stays so: a set-uid root program in the image (any
 * Debian image has some; here one the user's own Dockerfile adds) must not give the run root
 * in its container, and the run holds no capabilities at all. Real engine, real image.
 */
import { afterAll, expect, test } from 'vitest';
import { dockerClient, type GitmlDocker } from '../../core/docker/client.js';
import { DockerTarget } from '../../core/targets/docker.js';
import { BASE_IMAGE, describeDocker } from '../support/docker.js';
import { removeDir } from '../support/repo.js';
import { env, makeJob } from './helpers.js';

const scratches: string[] = [];
const tags: string[] = [];
afterAll(async () => {
  scratches.forEach(removeDir);
  const docker: GitmlDocker = dockerClient(undefined, process.cwd());
  for (const t of tags) await docker.getImage(t).remove({ force: true }).catch(() => undefined);
});

describeDocker('run container hardening (real engine)', () => {
  test('a set-uid root binary in the image does not make the run root; no capabilities are left', async () => {
    const suidEnv = env('suid-escalation', { dockerfile: 'docker/Dockerfile' });
    const { job, logs, scratch } = await makeJob({
      files: {
        'docker/Dockerfile': `FROM ${BASE_IMAGE}\nUSER root\nRUN cp "$(readlink -f /usr/bin/python3)" /usr/local/bin/pysuid && chmod 4755 /usr/local/bin/pysuid\n`,
        'escalate.py': [
          'import os',
          'print("euid", os.geteuid())',
          'for line in open("/proc/self/status"):',
          '    if line.startswith(("NoNewPrivs", "CapBnd", "CapEff")):',
          '        print(line.strip())',
          'try:',
          '    os.setuid(0)',
          '    open("/etc/gitml-root-proof", "w").write("root")',
          '    print("ESCALATED")',
          'except PermissionError as e:',
          '    print("stayed non-root:", e)',
          '',
        ].join('\n'),
      },
      argv: ['/usr/local/bin/pysuid', 'escalate.py'],
      environment: suidEnv,
    });
    scratches.push(scratch);
    const r = await new DockerTarget().run(job);
    if (r.image) tags.push(r.image, `${r.image}-base`);
    expect(r.status, logs.stderr).toBe('completed');
    expect(logs.stdout).toContain('euid 1000');
    expect(logs.stdout).not.toContain('ESCALATED');
    expect(logs.stdout).toMatch(/NoNewPrivs:\s+1/);
    expect(logs.stdout).toMatch(/CapBnd:\s+0+\n/);
  });
});
