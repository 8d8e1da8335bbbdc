/**
 * The report as GitHub-flavoured Markdown, cut to a size limit at experiment boundaries (a
 * table is never cut in half): when everything does not fit, charts go first, then whole
 * experiments, and a note says what was left out. Pure.
 */
import type { ParamValue } from '../runs/types.js';
import { mermaidChart } from './chart.js';
import type { Change, ExperimentReport, Report } from './types.js';

/** Hidden marker of the one sticky PR comment: the Action finds its comment by it. */
export const REPORT_MARKER = '<!-- gitml-report -->';

export interface RenderOptions {
  /** Largest result, measured by `measure` (GitHub: a comment is 65,536 characters, a check run's output 65,535 bytes). */
  limit?: number;
  measure?: (s: string) => number;
  /** Where the full report is, said in the note when something is cut. */
  fullReportAt?: string;
  /** `https://github.com/OWNER/REPO`: runs link to their folder on the runs branch. */
  repoUrl?: string;
  runsBranch?: string;
  /** Link head runs too (false when they were recorded here but not pushed). Default true. */
  linkHead?: boolean;
  /** Put the hidden marker first. */
  marker?: boolean;
}

export interface Rendered {
  text: string;
  /** Experiments left out, and charts left out, to fit the limit. */
  cut: { experiments: number; charts: number };
}

const SIGN: Record<Change, string> = { better: '✅ better', worse: '❌ worse', same: 'same', new: 'new', gone: 'gone', unjudged: '' };

/** Table cells: no pipes, no newlines, no HTML. */
const cell = (s: string) => s.replace(/[\r\n]+/g, ' ').replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const fmt = (v: number | undefined) => (v === undefined ? '—' : Number.isInteger(v) ? String(v) : Number(v.toPrecision(6)).toString());
const fmtDelta = (v: number | undefined) => (v === undefined ? '—' : `${v > 0 ? '+' : ''}${fmt(v)}`);
const fmtParam = (v: ParamValue | undefined) => (v === undefined ? '—' : `\`${cell(String(v)).replace(/`/g, "'")}\``);
const short = (c: string) => c.slice(0, 7);

function runRef(r: { id: string; folder: string }, o: RenderOptions): string {
  const id = `\`${r.id}\``;
  if (!o.repoUrl) return id;
  return `[${id}](${o.repoUrl}/tree/${encodeURIComponent(o.runsBranch ?? 'runs')}/${r.folder.split('/').map(encodeURIComponent).join('/')})`;
}

function experimentBlock(e: ExperimentReport, o: RenderOptions, chart: boolean): string {
  const out: string[] = [];
  const status = !e.head ? ' — no run at head' : e.head.status !== 'completed' ? ` — ❌ head run ${e.head.status}` : e.regressed ? ' — ❌ regressed' : '';
  out.push(`### ${cell(e.experiment)}${status}`, '');
  const head = e.head ? `head run ${runRef(e.head, o.linkHead === false ? { ...o, repoUrl: undefined } : o)} (${e.head.status}, ${short(e.head.commit)})` : 'no head run';
  const base = e.base ? `base run ${runRef(e.base, o)} (${short(e.base.commit)}, ${e.baseFrom === 'merge-base' ? 'at the merge-base' : 'newest on the base branch'})` : '**no base run** (nothing recorded on the base yet)';
  out.push(`${head}; ${base}`, '');
  if (e.head?.error) out.push(`> ${cell(e.head.error).slice(0, 500)}`, '');
  if (e.metrics.length) {
    out.push('| metric | base | head | delta | |', '|---|---:|---:|---:|---|');
    for (const m of e.metrics) {
      const name = m.primary ? `**${cell(m.name)}** (primary, ${m.goal ?? 'maximize'})` : cell(m.name);
      out.push(`| ${name} | ${fmt(m.base)} | ${fmt(m.head)} | ${fmtDelta(m.delta)} | ${SIGN[m.change]} |`);
    }
    out.push('');
  } else out.push('No metrics recorded.', '');
  if (e.params.length) {
    out.push('<details><summary>Params that differ</summary>', '', '| param | base | head |', '|---|---|---|');
    for (const p of e.params) out.push(`| ${cell(p.name)} | ${fmtParam(p.base)} | ${fmtParam(p.head)} |`);
    out.push('', '</details>', '');
  }
  if (chart && e.series) {
    const c = mermaidChart(e.series);
    if (c) out.push(`${e.base && e.series.base.length && e.series.head.length ? 'First line: base, second: head.' : ''}`, '', c, '');
  }
  return out.join('\n');
}

function header(r: Report, o: RenderOptions): string {
  const verdict = r.failed ? '❌ a run failed at head' : r.regressed ? `❌ regression (threshold ${r.threshold})` : r.experiments.length ? '✅ no regression' : 'no experiment ran';
  const lines = [...(o.marker ? [REPORT_MARKER] : []), `## gitml: ${verdict}`, '', `Base \`${cell(r.base.rev)}\` (${short(r.base.commit)}${r.mergeBase && r.mergeBase !== r.base.commit ? `, merge-base ${short(r.mergeBase)}` : ''}) → head \`${cell(r.head.rev)}\` (${short(r.head.commit)})`, ''];
  return lines.join('\n');
}

/** The Markdown of `r`, at most `limit` by `measure` (default: unlimited, characters). */
export function renderMarkdown(r: Report, o: RenderOptions = {}): Rendered {
  const measure = o.measure ?? ((s: string) => s.length);
  const limit = o.limit ?? Infinity;
  const top = header(r, o);
  const full = r.experiments.map((e) => experimentBlock(e, o, true));
  const text = top + '\n' + full.join('\n');
  if (measure(text) <= limit) return { text, cut: { experiments: 0, charts: 0 } };

  const bare = r.experiments.map((e) => experimentBlock(e, o, false));
  const charts = r.experiments.filter((e) => e.series).length;
  const note = (left: number) =>
    `\n---\n_Cut to fit GitHub's size limit: ${charts} chart${charts === 1 ? '' : 's'} left out${left ? `, and ${left} experiment${left === 1 ? '' : 's'}` : ''}.${o.fullReportAt ? ` The full report: ${o.fullReportAt}.` : ''}_\n`;
  // Every experiment without charts, else as many as fit, in order.
  const parts: string[] = [];
  let size = measure(top + '\n');
  for (let i = 0; i < bare.length; i++) {
    const left = bare.length - i - 1;
    const add = measure(bare[i] + '\n');
    if (size + add + measure(note(left)) > limit) {
      const out = top + '\n' + parts.join('') + note(bare.length - i);
      return { text: measure(out) <= limit ? out : top.slice(0, Math.max(0, limit - 200)) + note(bare.length), cut: { experiments: bare.length - i, charts } };
    }
    parts.push(bare[i] + '\n');
    size += add;
  }
  return { text: top + '\n' + parts.join('') + note(0), cut: { experiments: 0, charts } };
}
