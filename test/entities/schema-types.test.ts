import { readFileSync } from 'node:fs';
import path from 'node:path';
import { expect, test } from 'vitest';
import { generateSchemaTypes, generateValidators } from '../../core/entities/generate-types.js';
import { validator } from '../../core/entities/schemas.js';
import { ROOT } from '../support/repo.js';

test('core/entities/schema-types.ts is what the schemas generate (run `npm run gen:types` after a schema change)', async () => {
  const generated = await generateSchemaTypes(path.join(ROOT, 'schemas'));
  expect(readFileSync(path.join(ROOT, 'core/entities/schema-types.ts'), 'utf8')).toBe(generated);
  const validators = await generateValidators(path.join(ROOT, 'schemas'));
  expect(readFileSync(path.join(ROOT, 'core/entities/validators.generated.ts'), 'utf8')).toBe(validators);
});

test('every schema is draft 2020-12, compiles, and describes each property for editors', () => {
  for (const kind of ['Workspace', 'Experiment', 'ComputeTarget', 'Environment', 'Model', 'Service'] as const) {
    expect(() => validator(kind)).not.toThrow();
  }
  const files = ['workspace', 'experiment', 'compute', 'environment', 'model', 'service'];
  const undocumented: string[] = [];
  const walk = (node: unknown, where: string) => {
    if (!node || typeof node !== 'object') return;
    const n = node as Record<string, unknown>;
    if (n.properties && typeof n.properties === 'object') {
      for (const [k, v] of Object.entries(n.properties as Record<string, Record<string, unknown>>)) {
        if (!v.description && !v.$ref) undocumented.push(`${where}.${k}`);
        walk(v, `${where}.${k}`);
      }
    }
    for (const key of ['$defs', 'items', 'additionalProperties', 'oneOf']) {
      const child = n[key];
      if (Array.isArray(child)) child.forEach((c, i) => walk(c, `${where}/${key}/${i}`));
      else if (key === '$defs' && child) for (const [k, v] of Object.entries(child)) walk(v, `${where}/$defs/${k}`);
      else walk(child, `${where}/${key}`);
    }
  };
  for (const f of files) {
    const schema = JSON.parse(readFileSync(path.join(ROOT, 'schemas', `${f}.schema.json`), 'utf8'));
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    walk(schema, f);
  }
  // Nested declaration objects (param, input) describe their parent field instead.
  expect(undocumented.filter((u) => !/\.(path|description|cpu|memory|stage|version)$/.test(u))).toEqual([]);
});
