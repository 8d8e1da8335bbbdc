/**
 * The front of a Docker service: an HAProxy configuration, rendered purely from the servers
 * that should take traffic and the split between versions.
 *
 * Why HAProxy (and not nginx): active health checks on `/v2/health/ready` in the open-source
 * build (nginx has them only in Plus), a per-request random split between the primary and
 * canary backends that is exact on average (nginx's `split_clients` hashes a key, so one client
 * always lands on one side), and seamless reloads in master-worker mode: SIGUSR2 starts new
 * workers on the same listening sockets while old workers finish their requests, and with
 * `idle-close-on-response` an idle keep-alive client is never cut mid-race, so a rollout under
 * load drops no request.
 */
import { createHash } from 'node:crypto';

export const PROXY_PORT = 8080;
/** Where the configuration lives in the proxy container (written with the engine's archive API). */
export const PROXY_CONFIG_DIR = '/gitml/proxy';
export const PROXY_CONFIG_FILE = `${PROXY_CONFIG_DIR}/haproxy.cfg`;
export const PROXY_STATE_FILE = `${PROXY_CONFIG_DIR}/state.json`;
/** Response headers the front adds: which version and replica answered, which config served. */
export const HEADER_VERSION = 'X-Gitml-Version';
export const HEADER_REPLICA = 'X-Gitml-Replica';
export const HEADER_CONFIG = 'X-Gitml-Proxy-Config';

export interface ProxyServer {
  /** HAProxy server name (letters, digits, `-_.`). */
  name: string;
  /** Host name the engine's DNS resolves on the service network (the container name). */
  host: string;
  port: number;
}

export interface ProxyBackend {
  version: string;
  role: 'primary' | 'canary';
  /** Percent of requests (0..100). */
  weight: number;
  servers: ProxyServer[];
}

export interface ProxyConfig {
  service: string;
  backends: ProxyBackend[];
}

/** What the proxy container carries besides its config: read back as the actual state. */
export interface ProxyState {
  service: string;
  weights: Record<string, number>;
  servers: Record<string, string[]>;
  config: string;
}

const SAFE = /[^A-Za-z0-9_.-]/g;

function backendName(b: ProxyBackend): string {
  return `${b.role}_${b.version.replace(SAFE, '_')}`;
}

/** A short content id of a configuration (the X-Gitml-Proxy-Config header tells a reload took). */
export function configId(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** The haproxy.cfg text. Deterministic: the same servers and weights give the same bytes. */
export function renderProxyConfig(c: ProxyConfig): string {
  const backends = c.backends.filter((b) => b.weight > 0 || b.role === 'primary');
  const lines: string[] = [
    `# gitml front of service ${c.service}: generated, do not edit`,
    'global',
    '  maxconn 4096',
    '  hard-stop-after 30s',
    '  log stdout format short local0 notice',
    '',
    'resolvers docker',
    '  nameserver dns 127.0.0.11:53',
    '  hold valid 5s',
    '  accepted_payload_size 8192',
    '',
    'defaults',
    '  mode http',
    '  log global',
    '  option idle-close-on-response',
    '  timeout connect 2s',
    '  timeout client 60s',
    '  timeout server 60s',
    '  timeout http-keep-alive 10s',
    '  retries 3',
    '  option redispatch 1',
    '  retry-on conn-failure empty-response',
    '',
    'frontend service',
    `  bind :${PROXY_PORT}`,
  ];
  const [primary, ...canaries] = [...backends].sort((a, b) => (a.role === b.role ? 0 : a.role === 'primary' ? -1 : 1));
  if (canaries.length > 0) {
    lines.push('  http-request set-var(txn.gitml_pick) rand(100)');
    let from = 0;
    for (const k of canaries) {
      lines.push(`  use_backend ${backendName(k)} if { var(txn.gitml_pick) -m int ge ${from} } { var(txn.gitml_pick) -m int lt ${from + k.weight} }`);
      from += k.weight;
    }
  }
  if (primary) lines.push(`  default_backend ${backendName(primary)}`);
  const body = lines.join('\n');
  const out: string[] = [body];
  for (const b of backends) {
    out.push(
      [
        '',
        `backend ${backendName(b)}`,
        '  balance roundrobin',
        '  option httpchk GET /v2/health/ready',
        '  http-check expect status 200',
        '  default-server check inter 1s fall 2 rise 1 resolvers docker init-addr libc,none',
        `  http-response set-header ${HEADER_VERSION} ${b.version.replace(SAFE, '_')}`,
        `  http-response set-header ${HEADER_REPLICA} %s`,
        ...b.servers.map((s) => `  server ${s.name.replace(SAFE, '_')} ${s.host}:${s.port}`),
      ].join('\n'),
    );
  }
  const text = out.join('\n') + '\n';
  // The config id goes in last, over everything above it.
  return text.replace('frontend service\n', `frontend service\n  http-after-response set-header ${HEADER_CONFIG} ${configId(text)}\n`);
}

/** The id a rendered config announces in its responses. */
export function announcedId(config: string): string | undefined {
  return new RegExp(`set-header ${HEADER_CONFIG} ([0-9a-f]{12})`).exec(config)?.[1];
}
