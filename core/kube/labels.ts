/**
 * What every pod gitml puts on a cluster shares, runs and services alike: the recommended
 * `app.kubernetes.io/*` labels plus gitml's own, label-safe values, image references by digest,
 * the restricted Pod Security profile with a read-only root filesystem, and the size-limited
 * scratch volumes that make a read-only root workable (`/tmp` and `HOME`).
 */
import { createHash } from 'node:crypto';
import type { V1EnvVar, V1PodSecurityContext, V1SecurityContext, V1Volume, V1VolumeMount } from '@kubernetes/client-node';
import { isLabelValue } from './validate.js';

export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'gitml' } as const;
export const SERVICE_LABEL = 'dev.gitml/service';
export const TRACK_LABEL = 'dev.gitml/track';

/** `s` as a valid label value: unchanged when it already is one, else cleaned, cut and suffixed with a hash. */
export function labelValue(s: string): string {
  if (isLabelValue(s)) return s;
  const h = createHash('sha256').update(s).digest('hex').slice(0, 8);
  const v = s.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, '').slice(0, 54).replace(/[^A-Za-z0-9]+$/, '');
  return v ? `${v}-${h}` : h;
}

/** The recommended labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/common-labels/), values made label-safe. */
export function appLabels(l: { name: string; instance: string; version?: string; component: string; partOf: string }): Record<string, string> {
  return {
    'app.kubernetes.io/name': labelValue(l.name),
    'app.kubernetes.io/instance': labelValue(l.instance),
    ...(l.version ? { 'app.kubernetes.io/version': labelValue(l.version) } : {}),
    'app.kubernetes.io/component': labelValue(l.component),
    'app.kubernetes.io/part-of': labelValue(l.partOf),
    ...MANAGED_BY,
  };
}

/**
 * `image` pinned to `digest`: `registry:5000/repo:tag` + `sha256:…` -> `registry:5000/repo@sha256:…`
 * (the tag dropped: a pod then runs exactly what was pushed even if the tag moves). Unchanged
 * without a digest or when the reference already carries one.
 */
export function imageByDigest(image: string, digest?: string): string {
  if (!digest || image.includes('@')) return image;
  const slash = image.lastIndexOf('/');
  const colon = image.lastIndexOf(':');
  const repo = colon > slash ? image.slice(0, colon) : image;
  return `${repo}@${digest}`;
}

export const RUN_UID = 1000;
export const HOME_DIR = '/gitml/home';
export const TMP_SIZE = '1Gi';
export const HOME_SIZE = '256Mi';

export function restrictedPodSecurity(): V1PodSecurityContext {
  return { runAsNonRoot: true, runAsUser: RUN_UID, runAsGroup: RUN_UID, fsGroup: RUN_UID, seccompProfile: { type: 'RuntimeDefault' } };
}

export function restrictedContainerSecurity(): V1SecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: RUN_UID,
    allowPrivilegeEscalation: false,
    readOnlyRootFilesystem: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/**
 * The writable places of a read-only pod: `/tmp` and HOME as size-limited emptyDirs (a runaway
 * writer is evicted instead of filling the node), the env that points programs at them, and the
 * ephemeral-storage request that covers both.
 */
export function scratchVolumes(): { volumes: V1Volume[]; mounts: V1VolumeMount[]; env: V1EnvVar[]; request: string } {
  return {
    volumes: [
      { name: 'gitml-tmp', emptyDir: { sizeLimit: TMP_SIZE } },
      { name: 'gitml-home', emptyDir: { sizeLimit: HOME_SIZE } },
    ],
    mounts: [
      { name: 'gitml-tmp', mountPath: '/tmp' },
      { name: 'gitml-home', mountPath: HOME_DIR },
    ],
    env: [
      { name: 'HOME', value: HOME_DIR },
      { name: 'TMPDIR', value: '/tmp' },
    ],
    request: '1280Mi',
  };
}
