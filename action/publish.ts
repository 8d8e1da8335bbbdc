/**
 * Publishing a report on a pull request: one sticky comment (found by the hidden marker and
 * edited in place, so a PR gets one comment however often it is pushed) and a check run with a
 * conclusion. Both stay inside GitHub's limits: a comment body is at most 65,536 characters, a
 * check run's output summary at most 65,535 bytes.
 */
import type { Octokit } from '@octokit/rest';
import { REPORT_MARKER } from '../core/report/index.js';

export const COMMENT_LIMIT = 65_536;
export const CHECK_LIMIT = 65_535;
export const CHECK_NAME = 'gitml';

export interface Repo {
  owner: string;
  repo: string;
}

/** Post `body` as the PR's gitml comment: `sticky` edits the marked one when there is one. Returns its id and whether it was edited. */
export async function postComment(api: Octokit, r: Repo, issue: number, body: string, mode: 'sticky' | 'new'): Promise<{ id: number; updated: boolean }> {
  if (mode === 'sticky') {
    const comments = await api.paginate(api.rest.issues.listComments, { ...r, issue_number: issue, per_page: 100 });
    const mine = comments.find((c) => typeof c.body === 'string' && c.body.includes(REPORT_MARKER));
    if (mine) {
      await api.rest.issues.updateComment({ ...r, comment_id: mine.id, body });
      return { id: mine.id, updated: true };
    }
  }
  const made = await api.rest.issues.createComment({ ...r, issue_number: issue, body });
  return { id: made.data.id, updated: false };
}

export interface CheckAnnotation {
  path: string;
  start_line: number;
  end_line: number;
  start_column?: number;
  end_column?: number;
  annotation_level: 'notice' | 'warning' | 'failure';
  message: string;
}

export async function createCheck(api: Octokit, r: Repo, o: { headSha: string; conclusion: 'success' | 'failure' | 'neutral'; title: string; summary: string; annotations?: CheckAnnotation[] }): Promise<number> {
  const made = await api.rest.checks.create({
    ...r,
    name: CHECK_NAME,
    head_sha: o.headSha,
    status: 'completed',
    conclusion: o.conclusion,
    completed_at: new Date().toISOString(),
    // The API takes at most 50 annotations a request.
    output: { title: o.title, summary: o.summary, ...(o.annotations?.length ? { annotations: o.annotations.slice(0, 50) } : {}) },
  });
  return made.data.id;
}
