/**
 * The loaded form of a repository's gitml entities. Types of the YAML documents themselves are
 * generated from schemas/ into schema-types.ts.
 */
import type { ComputeTarget, Environment, Experiment, Model, Service, Workspace } from './schema-types.js';

export type { ComputeTarget, Environment, Experiment, Model, Service, Workspace };
export type { LocalCompute, DockerCompute, KubernetesCompute, SparkCompute, Param } from './schema-types.js';

export type EntityKind = 'Workspace' | 'Experiment' | 'ComputeTarget' | 'Environment' | 'Model' | 'Service';

/** Folder (under the repository root) holding each kind's files. */
export const KIND_DIRS: Record<Exclude<EntityKind, 'Workspace'>, string> = {
  Experiment: 'gitml/experiments',
  ComputeTarget: 'gitml/compute',
  Environment: 'gitml/environments',
  Model: 'gitml/models',
  Service: 'gitml/services',
};

export const WORKSPACE_FILE = 'gitml.yaml';

/** One problem in a user's YAML, located precisely. */
export interface Problem {
  /** Path relative to the repository root, '/'-separated. */
  file: string;
  /** 1-based; 0 when the problem concerns the whole file. */
  line: number;
  col: number;
  message: string;
  /** Stable machine-readable category: yaml, schema, reference, duplicate, name, io. */
  code: 'yaml' | 'schema' | 'reference' | 'duplicate' | 'name' | 'io' | 'missing';
  severity: 'error' | 'warning';
}

/** An entity with where it came from. */
export interface Loaded<T> {
  name: string;
  file: string;
  spec: T;
}

export interface Entities {
  /** Repository root on disk (working tree) — also set when loading from a commit. */
  dir: string;
  /** Commit the entities were read from, or undefined for the working tree. */
  commit?: string;
  workspace: Loaded<Workspace>;
  experiments: Map<string, Loaded<Experiment>>;
  compute: Map<string, Loaded<ComputeTarget>>;
  environments: Map<string, Loaded<Environment>>;
  models: Map<string, Loaded<Model>>;
  services: Map<string, Loaded<Service>>;
}

/** Validation returns values and problems; the caller decides how to print them. */
export interface LoadResult {
  value?: Entities;
  errors: Problem[];
  warnings: Problem[];
}
