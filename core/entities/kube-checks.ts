/**
 * What a Kubernetes API server would refuse with 422, found by `gitml validate` at its line
 * and column instead of at deploy or run time: in a kubernetes ComputeTarget the namespace,
 * service account, image pull secrets, priority class and gateway names (DNS-1123), the
 * nodeSelector's label keys and values, the tolerations' keys and values; the names of
 * Services deployed to a kubernetes compute (they name Deployments and Services); and the
 * environment variable names of environments that run there.
 */
import type { SourceDoc } from './diagnostics.js';
import { locate } from './diagnostics.js';
import { isDnsLabel, isDnsSubdomain, isEnvVarName, labelKeyProblem, labelValueProblem } from './kube-names.js';
import type { EntityKind, Problem } from './types.js';

export interface CheckedEntity {
  kind: EntityKind;
  name: string;
  file: string;
  src: () => SourceDoc;
  data: Record<string, unknown>;
}

/** Longest Service name: gitml adds `-canary` / `-stable` and the Deployment's pods add a hash. */
export const MAX_SERVICE_NAME = 56;

export function kubernetesProblems(entities: readonly CheckedEntity[], defaults: { compute?: string; environment?: string } = {}): Problem[] {
  const out: Problem[] = [];
  const at = (e: CheckedEntity, path: (string | number)[], message: string, preferKey = false): void => {
    out.push({ file: e.file, ...locate(e.src(), path, preferKey), code: 'schema', severity: 'error', message: `${message} (a Kubernetes API server refuses it with 422 Invalid)` });
  };
  const kubeCompute = new Set<string>();
  for (const e of entities) {
    if (e.kind !== 'ComputeTarget' || e.data.type !== 'kubernetes') continue;
    kubeCompute.add(e.name);
    const d = e.data as Record<string, any>;
    if (typeof d.namespace === 'string' && !isDnsLabel(d.namespace)) at(e, ['namespace'], `\`namespace\` ${JSON.stringify(d.namespace)} must be a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit`);
    if (typeof d.serviceAccount === 'string' && !isDnsSubdomain(d.serviceAccount)) at(e, ['serviceAccount'], `\`serviceAccount\` ${JSON.stringify(d.serviceAccount)} must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.'`);
    if (typeof d.priorityClassName === 'string' && !isDnsSubdomain(d.priorityClassName)) at(e, ['priorityClassName'], `\`priorityClassName\` ${JSON.stringify(d.priorityClassName)} must be a DNS-1123 subdomain`);
    (Array.isArray(d.imagePullSecrets) ? d.imagePullSecrets : []).forEach((s: unknown, i: number) => {
      if (typeof s === 'string' && !isDnsSubdomain(s)) at(e, ['imagePullSecrets', i], `\`imagePullSecrets[${i}]\` ${JSON.stringify(s)} must be a Secret name (a DNS-1123 subdomain)`);
    });
    for (const [k, v] of Object.entries((d.nodeSelector ?? {}) as Record<string, unknown>)) {
      const kp = labelKeyProblem(k);
      if (kp) at(e, ['nodeSelector', k], `\`nodeSelector\` key ${JSON.stringify(k)} is not a valid label key: ${kp}`, true);
      const vp = typeof v === 'string' ? labelValueProblem(v) : undefined;
      if (vp) at(e, ['nodeSelector', k], `\`nodeSelector.${k}\`: ${vp}`);
    }
    (Array.isArray(d.tolerations) ? d.tolerations : []).forEach((t: Record<string, unknown>, i: number) => {
      if (typeof t.key === 'string' && t.key !== '') {
        const kp = labelKeyProblem(t.key);
        if (kp) at(e, ['tolerations', i, 'key'], `\`tolerations[${i}].key\` ${JSON.stringify(t.key)} is not a valid taint key: ${kp}`);
      }
      if (t.operator === 'Exists' && typeof t.value === 'string' && t.value !== '') at(e, ['tolerations', i, 'value'], `\`tolerations[${i}].value\` must be empty when \`operator\` is Exists`);
      if (typeof t.value === 'string') {
        const vp = labelValueProblem(t.value);
        if (vp) at(e, ['tolerations', i, 'value'], `\`tolerations[${i}].value\`: ${vp}`);
      }
      if ((t.key === undefined || t.key === '') && t.operator !== 'Exists') at(e, ['tolerations', i], `\`tolerations[${i}]\` without a \`key\` must have \`operator: Exists\``);
    });
    const g = d.gateway as Record<string, unknown> | undefined;
    if (g) {
      if (typeof g.name === 'string' && !isDnsSubdomain(g.name)) at(e, ['gateway', 'name'], `\`gateway.name\` ${JSON.stringify(g.name)} must be a DNS-1123 subdomain`);
      if (typeof g.namespace === 'string' && !isDnsLabel(g.namespace)) at(e, ['gateway', 'namespace'], `\`gateway.namespace\` ${JSON.stringify(g.namespace)} must be a DNS-1123 label`);
      if (typeof g.sectionName === 'string' && !isDnsSubdomain(g.sectionName)) at(e, ['gateway', 'sectionName'], `\`gateway.sectionName\` ${JSON.stringify(g.sectionName)} must be a DNS-1123 subdomain`);
    }
  }
  if (kubeCompute.size === 0) return out;

  const onKube = (compute: unknown): boolean => typeof compute === 'string' && kubeCompute.has(compute);
  const kubeEnvironments = new Set<string>();
  for (const e of entities) {
    if (e.kind === 'Service' && onKube(e.data.compute)) {
      if (!isDnsLabel(e.name) || e.name.length > MAX_SERVICE_NAME) {
        const where = typeof e.data.name === 'string' ? ['name'] : ['kind'];
        at(e, where, `the service name ${JSON.stringify(e.name)} (its file stem) names its Deployment and Service on compute ${JSON.stringify(e.data.compute)}, so it must be a DNS-1123 label of at most ${MAX_SERVICE_NAME} characters (lowercase letters, digits and '-'); rename the file`);
      }
    }
    if (e.kind === 'Experiment' && onKube(e.data.compute ?? defaults.compute)) {
      const env = e.data.environment ?? defaults.environment;
      if (typeof env === 'string') kubeEnvironments.add(env);
    }
  }
  for (const e of entities) {
    if (e.kind !== 'Environment' || !kubeEnvironments.has(e.name)) continue;
    for (const k of Object.keys((e.data.variables ?? {}) as Record<string, unknown>)) {
      if (!isEnvVarName(k)) at(e, ['variables', k], `environment variable name ${JSON.stringify(k)} is not valid on Kubernetes (letters, digits, '_', '-' and '.', not starting with a digit); this environment runs on a kubernetes compute`, true);
    }
  }
  return out;
}
