/**
 * Compiles the JSON Schemas in schemas/ once per process with ajv (draft 2020-12).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import { schemasDir } from '../paths.js';
import type { EntityKind } from './types.js';

export const SCHEMA_FILE: Record<EntityKind, string> = {
  Workspace: 'workspace.schema.json',
  Experiment: 'experiment.schema.json',
  ComputeTarget: 'compute.schema.json',
  Environment: 'environment.schema.json',
  Model: 'model.schema.json',
  Service: 'service.schema.json',
};

let ajv: Ajv2020 | undefined;
const compiled = new Map<EntityKind, ValidateFunction>();

export function readSchema(kind: EntityKind): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join(schemasDir(), SCHEMA_FILE[kind]), 'utf8'));
}

export function validator(kind: EntityKind): ValidateFunction {
  let v = compiled.get(kind);
  if (!v) {
    // allErrors so one pass reports every problem in a file; discriminator gives ComputeTarget
    // errors from the branch its `type` selects instead of from all four.
    ajv ??= new Ajv2020({ allErrors: true, verbose: true, discriminator: true, strict: false, allowUnionTypes: true });
    v = ajv.compile(readSchema(kind));
    compiled.set(kind, v);
  }
  return v;
}
