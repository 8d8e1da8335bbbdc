/**
 * Checks a Kubernetes object against the official OpenAPI schemas (through kubernetes-models)
 * plus the name and label rules the API server enforces but the schemas do not carry. Used by
 * the object builders before anything is sent, and by the test API server on every body it
 * receives, so both sides of the contract are checked against the same source.
 */
import { Job } from 'kubernetes-models/batch/v1/Job';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Pod } from 'kubernetes-models/v1/Pod';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Role } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { ReplicaSet } from 'kubernetes-models/apps/v1/ReplicaSet';
// The Gateway API CRD schema (v1), generated from the CRDs by the same project as kubernetes-models.
import { HTTPRoute } from '@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1/HTTPRoute';

import { isDnsLabel, isDnsSubdomain, isEnvVarName, isLabelValue, labelKeyProblem } from '../entities/kube-names.js';
// The kinds gitml creates. Anything else is reported rather than silently accepted.
// `any`: each model takes its own kind's shape, and what is checked here is untyped input by design.
type ModelCtor = new (data: any) => { validate(): void };
const MODELS: Record<string, ModelCtor> = {
  'batch/v1/Job': Job,
  'apps/v1/Deployment': Deployment,
  'v1/ConfigMap': ConfigMap,
  'v1/Pod': Pod,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'rbac.authorization.k8s.io/v1/Role': Role,
  'rbac.authorization.k8s.io/v1/RoleBinding': RoleBinding,
  'apps/v1/ReplicaSet': ReplicaSet,
  'gateway.networking.k8s.io/v1/HTTPRoute': HTTPRoute,
};

/** One problem, shaped like the API server's StatusCause. */
export interface KubeCause {
  field: string;
  message: string;
  reason: string;
}

/** Kinds whose names must be DNS-1123 labels (63 characters) rather than subdomains. */
const LABEL_NAMED = new Set(['Service', 'Namespace']);

export { isDnsLabel, isLabelValue } from '../entities/kube-names.js';

/** Problems with `obj`, empty when the API server would accept it. */
export function kubeObjectProblems(obj: unknown): KubeCause[] {
  const causes: KubeCause[] = [];
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) {
    return [{ field: '', message: 'object expected', reason: 'FieldValueInvalid' }];
  }
  const o = obj as { apiVersion?: unknown; kind?: unknown; metadata?: Record<string, unknown> };
  const key = `${String(o.apiVersion)}/${String(o.kind)}`;
  const Model = MODELS[key];
  if (!Model) return [{ field: 'kind', message: `unsupported kind ${key}`, reason: 'FieldValueNotSupported' }];
  try {
    new Model(obj).validate();
  } catch (e) {
    const errors = (e as { errors?: { instancePath?: string; message?: string }[] }).errors;
    if (Array.isArray(errors) && errors.length > 0) {
      for (const err of errors) {
        causes.push({ field: (err.instancePath ?? '').replace(/^\//, '').replace(/\//g, '.'), message: err.message ?? 'invalid', reason: 'FieldValueInvalid' });
      }
    } else {
      causes.push({ field: '', message: e instanceof Error ? e.message : String(e), reason: 'FieldValueInvalid' });
    }
  }
  const meta = o.metadata ?? {};
  const name = meta.name;
  if (typeof name !== 'string' || name === '') {
    if (typeof meta.generateName !== 'string') causes.push({ field: 'metadata.name', message: 'name or generateName is required', reason: 'FieldValueRequired' });
  } else if (LABEL_NAMED.has(String(o.kind)) ? !isDnsLabel(name) : !isDnsSubdomain(name)) {
    causes.push({ field: 'metadata.name', message: `${JSON.stringify(name)} is not a valid DNS-1123 name`, reason: 'FieldValueInvalid' });
  }
  if (meta.namespace !== undefined && (typeof meta.namespace !== 'string' || !isDnsLabel(meta.namespace))) {
    causes.push({ field: 'metadata.namespace', message: `${JSON.stringify(meta.namespace)} is not a valid namespace name (a DNS-1123 label)`, reason: 'FieldValueInvalid' });
  }
  if (o.kind === 'Job' && typeof name === 'string' && name.length > 63) {
    // The Job controller puts the name in the pods' job-name label.
    causes.push({ field: 'metadata.name', message: 'a Job name must be 63 characters or less', reason: 'FieldValueInvalid' });
  }
  const checkLabels = (labels: unknown, field: string): void => {
    if (!labels || typeof labels !== 'object') return;
    for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
      const p = labelKeyProblem(k);
      if (p) causes.push({ field: `${field}.${k}`, message: p, reason: 'FieldValueInvalid' });
      if (typeof v !== 'string' || !isLabelValue(v)) causes.push({ field: `${field}.${k}`, message: `${JSON.stringify(v)} is not a valid label value`, reason: 'FieldValueInvalid' });
    }
  };
  checkLabels(meta.labels, 'metadata.labels');
  // Environment variable names, which the schemas leave as any string.
  const spec = (obj as { spec?: Record<string, any> }).spec;
  const podSpec = o.kind === 'Pod' ? spec : spec?.template?.spec;
  const podPath = o.kind === 'Pod' ? 'spec' : 'spec.template.spec';
  for (const [i, c] of ((podSpec?.containers ?? []) as Array<{ env?: Array<{ name?: unknown }> }>).entries()) {
    for (const [j, e] of (c.env ?? []).entries()) {
      if (typeof e?.name === 'string' && !isEnvVarName(e.name)) {
        causes.push({ field: `${podPath}.containers[${i}].env[${j}].name`, message: `${JSON.stringify(e.name)} is not a valid environment variable name (letters, digits, '_', '-' and '.', not starting with a digit)`, reason: 'FieldValueInvalid' });
      }
    }
  }
  const tmplMeta = (obj as { spec?: { template?: { metadata?: { labels?: unknown } } } }).spec?.template?.metadata;
  checkLabels(tmplMeta?.labels, 'spec.template.metadata.labels');
  return causes;
}
