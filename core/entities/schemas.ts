/**
 * Schema validation in two speeds: the standalone validators generated from schemas/ answer
 * "valid or not" with no compiler at start-up; when a document is invalid, the full ajv
 * (draft 2020-12, all errors, verbose) is loaded once to explain every problem.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { schemasDir } from '../paths.js';
import type { EntityKind } from './types.js';
import * as generated from './validators.generated.js';

export const SCHEMA_FILE: Record<EntityKind, string> = {
  Workspace: 'workspace.schema.json',
  Experiment: 'experiment.schema.json',
  ComputeTarget: 'compute.schema.json',
  Environment: 'environment.schema.json',
  Model: 'model.schema.json',
  Service: 'service.schema.json',
};

const GENERATED: Record<EntityKind, (data: unknown) => boolean> = {
  Workspace: generated.workspace,
  Experiment: generated.experiment,
  ComputeTarget: generated.compute,
  Environment: generated.environment,
  Model: generated.model,
  Service: generated.service,
};

const require = createRequire(import.meta.url);
type Ajv2020Ctor = typeof import('ajv/dist/2020.js').Ajv2020;
let ajv: InstanceType<Ajv2020Ctor> | undefined;
const compiled = new Map<EntityKind, ValidateFunction>();

export function readSchema(kind: EntityKind): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(schemasDir(), SCHEMA_FILE[kind]), 'utf8'));
}

/** The full validator with every error explained (compiles the schema on first use). */
export function validator(kind: EntityKind): ValidateFunction {
  let v = compiled.get(kind);
  if (!v) {
    // allErrors so one pass reports every problem in a file; discriminator gives ComputeTarget
    // errors from the branch its `type` selects instead of from all four.
    const { Ajv2020 } = require('ajv/dist/2020.js') as { Ajv2020: Ajv2020Ctor };
    ajv ??= new Ajv2020({ allErrors: true, verbose: true, discriminator: true, strict: false, allowUnionTypes: true });
    v = ajv.compile(readSchema(kind));
    compiled.set(kind, v);
  }
  return v;
}

/** Validate `data` as `kind`: no errors means valid. */
export function validate(kind: EntityKind, data: unknown): ErrorObject[] {
  if (GENERATED[kind](data)) return [];
  const full = validator(kind);
  return full(data) ? [] : (full.errors ?? []);
}
