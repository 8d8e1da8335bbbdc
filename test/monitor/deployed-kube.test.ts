/**
 * Monitoring a service deployed on Kubernetes: with `monitoring.sampleRate` the pods' scoring
 * servers write their sampled requests to standard output (`GITML_SAMPLE_LOG=-`), and `gitml
 * monitor SERVICE` reads them back from the pods' logs through the API.
 *
 * The cluster is the fake API server (a kubelet that does not run containers), so what a pod
 * would print is produced for real: the model image that `gitml deploy` built and pushed runs
 * on the real engine with the environment of the Deployment's pod template, receives requests
 * with petal_length shifted, and its container log becomes the pod's log.
 */
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { EXIT } from '../../core/errors.js';
import { describeDocker, dockerClient, TEST_REGISTRY } from '../support/docker.js';
import { FakeKubeApiServer } from '../support/kube-apiserver.js';
import { git, gitmlAsync, tmpDir } from '../support/repo.js';
import { SERVICE_ENV, editService, serviceRepo } from '../support/services.js';
import { writeFileSync } from 'node:fs';
import { shiftedIrisBatches } from './shifted.js';

const HOST_PORT = 18652;
let server: FakeKubeApiServer;
let dir = '';
let container: string | undefined;

type Pod = { metadata: { name: string; annotations?: Record<string, string> }; spec: { containers: Array<{ image: string; env?: Array<{ name: string; value: string }> }> } };

describeDocker('gitml monitor on a Kubernetes service (pods\' logs through the API)', () => {
  beforeAll(async () => {
    server = await new FakeKubeApiServer({ podReadyMs: 20, namespaces: ['ml'], registries: [TEST_REGISTRY.split('/')[0]] }).start();
    const kubeconfig = server.writeKubeconfig(tmpDir('gitml-kube-mon-'), { context: 'fake', namespace: 'ml' });
    dir = serviceRepo({ port: 80 }).dir;
    writeFileSync(path.join(dir, 'gitml/compute/k8s.yaml'), ['kind: ComputeTarget', 'type: kubernetes', `kubeconfig: ${JSON.stringify(kubeconfig)}`, 'context: fake', 'namespace: ml', `registry: ${TEST_REGISTRY}/gitml-kube-monitor`, ''].join('\n'));
    git(dir, 'add', 'gitml/compute/k8s.yaml');
    editService(dir, (y) => y.replace(/^compute: docker$/m, 'compute: k8s').replace(/sampleRate: [0-9.]+/, 'sampleRate: 1'));
    const d = await gitmlAsync(dir, ['deploy'], { env: SERVICE_ENV, timeout: 600_000 });
    expect(d.code, `${d.stderr}\n${d.stdout}`).toBe(0);
  }, 900_000);
  afterAll(async () => {
    if (container) await (await dockerClient()).getContainer(container).remove({ force: true }).catch(() => undefined);
    await server?.stop();
  });

  test('the pods sample to their logs; monitor reads every pod\'s and names shifted petal_length alone; a changed rate replaces the pods', async () => {
    const pods = server.list('pods', 'ml') as Pod[];
    expect(pods).toHaveLength(1);
    const env = Object.fromEntries((pods[0].spec.containers[0].env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({ GITML_SAMPLE_LOG: '-', GITML_SAMPLE_RATE: '1' });

    // No samples in the pods' logs yet: 0 rows, exit 0.
    const none = await gitmlAsync(dir, ['monitor', 'iris', '--json'], { env: SERVICE_ENV });
    expect(none.code, none.stderr).toBe(EXIT.OK);
    expect(JSON.parse(none.stdout).current.rows).toBe(0);

    // What the pod runs, run for real: its image by digest, with its pod template's environment.
    const docker = await dockerClient();
    const c = await docker.createContainer({
      Image: pods[0].spec.containers[0].image,
      Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
      HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(HOST_PORT) }] } },
      ExposedPorts: { '8080/tcp': {} },
    }).catch(async (e) => {
      if (!/No such image/i.test(String(e))) throw e;
      await new Promise<void>((resolve, reject) => docker.pull(pods[0].spec.containers[0].image, (err: Error | null, s: NodeJS.ReadableStream) => (err ? reject(err) : docker.modem.followProgress(s, (e2: Error | null) => (e2 ? reject(e2) : resolve())))));
      return docker.createContainer({ Image: pods[0].spec.containers[0].image, Env: Object.entries(env).map(([k, v]) => `${k}=${v}`), HostConfig: { PortBindings: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: String(HOST_PORT) }] } }, ExposedPorts: { '8080/tcp': {} } });
    });
    container = c.id;
    await c.start();
    for (let i = 0; ; i++) {
      const ready = await fetch(`http://127.0.0.1:${HOST_PORT}/v2/health/ready`).then((r) => r.status === 200, () => false);
      if (ready) break;
      if (i > 300) throw new Error('the model server never became ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    const { rows, batches } = shiftedIrisBatches(dir);
    for (const data of batches) {
      const res = await fetch(`http://127.0.0.1:${HOST_PORT}/score`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ data }) });
      expect(res.status, await res.clone().text()).toBe(200);
    }
    // The container's log (standard output and error, as a pod's log has them) becomes the pod's.
    const logs = (await c.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
    const text = demux(logs);
    expect(text).toMatch(/^gitml-sample \{/m);
    expect(text.split('\n').some((l) => l && !l.startsWith('gitml-sample '))).toBe(true); // the server's own lines are there too
    server.writePodLog('ml', pods[0].metadata.name, text);

    const m = await gitmlAsync(dir, ['monitor', 'iris', '--json'], { env: SERVICE_ENV });
    expect(m.code, m.stderr).toBe(EXIT.FAILURE);
    const rep = JSON.parse(m.stdout);
    expect(rep.current.rows).toBe(rows);
    expect(rep.current.file).toMatch(/sample logs of iris \(1 replica\)/);
    expect(rep.driftedColumns).toEqual(['petal_length']);
    expect(server.requests.some((q) => q.method === 'GET' && /\/pods\/[^/]+\/log$/.test(q.path) && q.query.follow === undefined)).toBe(true);

    // The rate is a replica setting on the pod template: changing it replaces the pods.
    editService(dir, (y) => y.replace(/sampleRate: 1\n/, 'sampleRate: 0.5\n'));
    const d = await gitmlAsync(dir, ['deploy', '--json'], { env: SERVICE_ENV, timeout: 300_000 });
    expect(d.code, d.stderr).toBe(0);
    const after = (server.list('pods', 'ml') as Pod[]).filter((p) => !(p as { metadata: { deletionTimestamp?: string } }).metadata.deletionTimestamp);
    expect(after.map((p) => p.metadata.name)).not.toContain(pods[0].metadata.name);
    expect(Object.fromEntries((after[0].spec.containers[0].env ?? []).map((e) => [e.name, e.value])).GITML_SAMPLE_RATE).toBe('0.5');
    expect((await gitmlAsync(dir, ['deploy'], { env: SERVICE_ENV })).stdout).toMatch(/nothing to change/);
  }, 600_000);
});

/** A non-TTY container's log stream: 8-byte frame headers (stream, size) before each chunk. */
function demux(buf: Buffer): string {
  let out = '';
  for (let i = 0; i + 8 <= buf.length; ) {
    const n = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + n).toString('utf8');
    i += 8 + n;
  }
  return out;
}
