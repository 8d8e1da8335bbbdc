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

if (import.meta.url === `file://${process.argv[1]}`) {
  const { writeFile } = await import('node:fs/promises');
  const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '../..');
  const out = await generateSchemaTypes(path.join(root, 'schemas'));
  await writeFile(path.join(root, 'core/entities/schema-types.ts'), out);
  process.stdout.write('wrote core/entities/schema-types.ts\n');
}
