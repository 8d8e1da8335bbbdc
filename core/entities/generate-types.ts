/**
 * Generates core/entities/schema-types.ts from schemas/*.schema.json, so the JSON Schemas stay
 * the single source of truth. Run with `npm run gen:types`; test/entities/schema-types.test.ts
 * fails when the committed file drifts from the schemas.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { compile } from 'json-schema-to-typescript';

export const SCHEMA_FILES = ['workspace', 'experiment', 'compute', 'environment', 'model', 'service'] as const;

export async function generateSchemaTypes(schemasDir: string): Promise<string> {
  const parts: string[] = [
    '/* eslint-disable */',
    '// Generated from schemas/*.schema.json by core/entities/generate-types.ts. Do not edit: run `npm run gen:types`.',
    '',
  ];
  for (const name of SCHEMA_FILES) {
    const schema = JSON.parse(await readFile(path.join(schemasDir, `${name}.schema.json`), 'utf8'));
    delete schema.discriminator; // an ajv keyword; json-schema-to-typescript treats it as a property
    const ts = await compile(schema, schema.title, {
      bannerComment: '',
      additionalProperties: false,
      strictIndexSignatures: false,
      unknownAny: true,
      format: true,
      declareExternallyReferenced: true,
      style: { singleQuote: true, printWidth: 110 },
    });
    parts.push(ts.trim(), '');
  }
  return parts.join('\n');
}

/**
 * Standalone validation code for every kind (ajv's compiled output, no compiler at run time):
 * compiling the schemas costs ~200 ms a process, which `gitml validate` and `gitml run` should
 * not pay. Errors are still explained by the full ajv, loaded only when a file is invalid.
 */
export async function generateValidators(schemasDir: string): Promise<string> {
  const { Ajv2020 } = await import('ajv/dist/2020.js');
  const standalone = (await import('ajv/dist/standalone/index.js')).default as unknown as (ajv: unknown, refs: Record<string, string>) => string;
  const ajv = new Ajv2020({ discriminator: true, strict: false, allowUnionTypes: true, code: { source: true, esm: true } });
  const refs: Record<string, string> = {};
  for (const name of SCHEMA_FILES) {
    ajv.addSchema(JSON.parse(await readFile(path.join(schemasDir, `${name}.schema.json`), 'utf8')), name);
    refs[name] = name;
  }
  return [
    '// @ts-nocheck',
    '// Generated from schemas/*.schema.json by core/entities/generate-types.ts. Do not edit: run `npm run gen:types`.',
    "import { createRequire } from 'node:module';",
    'const require = createRequire(import.meta.url);',
    standalone(ajv, refs),
    '',
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { writeFile } = await import('node:fs/promises');
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
  await writeFile(path.join(root, 'core/entities/schema-types.ts'), await generateSchemaTypes(path.join(root, 'schemas')));
  await writeFile(path.join(root, 'core/entities/validators.generated.ts'), await generateValidators(path.join(root, 'schemas')));
  process.stdout.write('wrote core/entities/schema-types.ts and core/entities/validators.generated.ts\n');
}
