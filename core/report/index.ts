/**
 * The base/head metrics report (`gitml report`, the GitHub Action's PR comment and check).
 */
export { buildReport, type BuildReportOptions } from './build.js';
export { renderMarkdown, REPORT_MARKER, type RenderOptions, type Rendered } from './markdown.js';
export { mermaidChart } from './chart.js';
export { parseThreshold, goalFor, judge, regressed } from './judge.js';
export type * from './types.js';
