import { describe, expect, test } from 'vitest';
import { inferColumnType, inferSchema, outputsForFlavor, parseJsonKeepingNumbers } from '../../core/package/schema-infer.js';
import { isGitmlError } from '../../core/errors.js';

const IRIS = '[{"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}, {"sepal_length": 7.0, "sepal_width": 3.2, "petal_length": 4.7, "petal_width": 1.4}]';

describe('inferSchema: input columns from the sample text', () => {
  test.each([
    ['records of floats', IRIS, [['sepal_length', 'double'], ['sepal_width', 'double'], ['petal_length', 'double'], ['petal_width', 'double']]],
    // 7.0 and 5.0 parse to integers in JavaScript; the text says double.
    ['integral floats stay double', '[{"a": 5.0}, {"a": 7.0}]', [['a', 'double']]],
    ['exponent means double', '[{"a": 1e3}, {"a": 2}]', [['a', 'double']]],
    ['integers are long', '[{"n": 1}, {"n": -20}]', [['n', 'long']]],
    ['int and float mix to double', '[{"n": 1}, {"n": 2.5}]', [['n', 'double']]],
    ['strings', '[{"s": "a"}, {"s": "b"}]', [['s', 'string']]],
    ['booleans', '[{"b": true}, {"b": false}]', [['b', 'boolean']]],
    ['nulls are ignored', '[{"x": null}, {"x": 3}]', [['x', 'long']]],
    ['columns in first-seen order, union of keys', '[{"b": 1, "a": "x"}, {"a": "y", "c": true}]', [['b', 'long'], ['a', 'string'], ['c', 'boolean']]],
    ['pandas split layout', '{"columns": ["x", "y"], "data": [[1.5, "u"], [2, "v"]]}', [['x', 'double'], ['y', 'string']]],
    ['columnar layout', '{"x": [1, 2], "y": [true, false]}', [['x', 'long'], ['y', 'boolean']]],
  ])('%s', (_name, text, expected) => {
    const r = inferSchema({ text, flavor: 'sklearn' });
    expect(r.schema.inputs.map((c) => [c.name, c.type])).toEqual(expected);
    expect(r.warnings).toEqual([]);
  });

  test.each([
    ['all-null column is double, with a warning', '[{"x": null}, {"x": null}]', 'double'],
    ['number and string mix is string, with a warning', '[{"x": 1}, {"x": "one"}]', 'string'],
    ['boolean and number mix is string, with a warning', '[{"x": 1}, {"x": true}]', 'string'],
  ])('%s', (_name, text, type) => {
    const r = inferSchema({ text });
    expect(r.schema.inputs).toEqual([{ name: 'x', type }]);
    expect(r.warnings.length).toBe(1);
  });

  test.each([
    ['not JSON', '[{"a": 1}'],
    ['NaN is not JSON', '[{"a": NaN}]'],
    ['an empty list', '[]'],
    ['a list of scalars', '[1, 2, 3]'],
    ['a nested object column', '[{"a": {"b": 1}}]'],
    ['a list column', '[{"a": [1, 2]}]'],
    ['rows without columns', '[{}, {}]'],
    ['split rows of the wrong width', '{"columns": ["a", "b"], "data": [[1]]}'],
    ['a string', '"hello"'],
  ])('refuses %s with MANIFEST', (_name, text) => {
    let err: unknown;
    try {
      inferSchema({ text });
    } catch (e) {
      err = e;
    }
    expect(isGitmlError(err, 'MANIFEST')).toBe(true);
  });

  test('records are normalised to the column order and plain values', () => {
    const r = inferSchema({ text: '{"columns": ["x", "s"], "data": [[5.0, "a"], [1, "b"]]}' });
    expect(r.records).toEqual([
      { x: 5, s: 'a' },
      { x: 1, s: 'b' },
    ]);
    expect(Object.keys(r.records[0])).toEqual(['x', 's']);
    // a column typed string holds strings
    expect(inferSchema({ text: '[{"x": 1}, {"x": "one"}]' }).records).toEqual([{ x: '1' }, { x: 'one' }]);
  });

  test('a key named __proto__ is an ordinary column', () => {
    const r = inferSchema({ text: '[{"__proto__": 1}]' });
    expect(r.schema.inputs).toEqual([{ name: '__proto__', type: 'long' }]);
    expect(Object.keys(r.records[0])).toEqual(['__proto__']);
  });
});

describe('outputs by flavor', () => {
  test.each([
    ['sklearn', [{ name: 'prediction', type: 'long' }], 'flavor'],
    ['python', [], 'none'],
  ] as const)('%s', (flavor, outputs, from) => {
    expect(outputsForFlavor(flavor)).toEqual(outputs);
    const r = inferSchema({ text: IRIS, flavor });
    expect(r.schema.outputs).toEqual(outputs);
    expect(r.outputsFrom).toBe(from);
  });
});

test('parseJsonKeepingNumbers agrees with JSON.parse on plain values', () => {
  const text = '{"a": [1, 2.5, -3e2, "x\\"y", true, false, null, {}], "b": {"c": "\\u00e9"}}';
  const plain = (v: unknown): unknown =>
    v && typeof v === 'object' && (v as object).constructor.name === 'Num'
      ? Number((v as { text: string }).text)
      : Array.isArray(v)
        ? v.map(plain)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]))
          : v;
  expect(plain(parseJsonKeepingNumbers(text))).toEqual(JSON.parse(text));
  expect(inferColumnType([1, 2], 'n', [])).toBe('long');
});
