/**
 * The API server's rules for names, label keys and values, and environment variable names
 * (k8s.io/apimachinery/pkg/util/validation), as plain functions with no dependencies: used by
 * `gitml validate` to refuse at line and column what a cluster would refuse with 422, and by
 * core/kube/validate.ts for the objects gitml generates.
 */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const QUALIFIED_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** IsEnvVarName: letters, digits, '_', '-', '.', not starting with a digit. */
const ENV_VAR_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

/** A DNS-1123 label (Service and namespace names): at most 63 of [a-z0-9-], alphanumeric at both ends. */
export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s);
}

/** A DNS-1123 subdomain (most object names: service accounts, secrets, priority classes): at most 253, dot-separated labels. */
export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && DNS_SUBDOMAIN.test(s);
}

export function isLabelValue(s: string): boolean {
  return s.length <= 63 && LABEL_VALUE.test(s);
}

/** Why `key` is not a valid label key (an optional DNS-subdomain prefix and a qualified name), or undefined. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.lastIndexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && !isDnsSubdomain(prefix)) return `the prefix ${JSON.stringify(prefix)} must be a DNS subdomain (lowercase letters, digits, '-' and '.')`;
  if (name.length > 63 || !QUALIFIED_NAME.test(name)) return `the name ${JSON.stringify(name)} must be 63 characters or less, begin and end with a letter or digit, with '-', '_' or '.' inside`;
  return undefined;
}

export function labelValueProblem(value: string): string | undefined {
  return isLabelValue(value) ? undefined : `${JSON.stringify(value)} is not a valid label value (63 characters or less, empty or beginning and ending with a letter or digit, with '-', '_' or '.' inside)`;
}

export function isEnvVarName(s: string): boolean {
  return ENV_VAR_NAME.test(s);
}
