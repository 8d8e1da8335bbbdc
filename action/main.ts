/**
 * The Action's entry (bundled to action/dist/index.mjs): git credentials from the token, then
 * runAction, outputs, and one exit status. The only file here with side effects on import.
 */
import { runGit } from '../core/git.js';
import { isGitmlError } from '../core/errors.js';
import { closeRunStore } from '../core/runs/index.js';
import { contextFromEnv, runAction, type ActionContext } from './run.js';
import { ActionInputError } from './runner.js';

/**
 * Let git reach the server with the token as actions/checkout does (an extra Authorization
 * header for the server's URL, in the environment only: nothing written to .git/config), unless
 * the checkout already persisted its own.
 */
async function gitCredentials(ctx: ActionContext): Promise<void> {
  if (!ctx.token) return;
  ctx.runner.mask(ctx.token);
  const server = (ctx.env.GITHUB_SERVER_URL || 'https://github.com').replace(/\/+$/, '') + '/';
  const key = `http.${server}.extraheader`;
  const have = await runGit(ctx.dir, ['config', '--get-all', key]);
  if (have.code === 0 && have.stdout.trim()) return;
  const basic = Buffer.from(`x-access-token:${ctx.token}`).toString('base64');
  ctx.runner.mask(basic);
  const n = Number(process.env.GIT_CONFIG_COUNT) || 0;
  process.env[`GIT_CONFIG_KEY_${n}`] = key;
  process.env[`GIT_CONFIG_VALUE_${n}`] = `AUTHORIZATION: Basic ${basic}`;
  process.env.GIT_CONFIG_COUNT = String(n + 1);
}

async function main(): Promise<number> {
  const ctx = contextFromEnv(process.env);
  try {
    await gitCredentials(ctx);
    const r = await runAction(ctx);
    ctx.runner.output('run-ids', JSON.stringify(r.runIds));
    ctx.runner.output('report-path', r.reportPath ?? '');
    ctx.runner.output('regressed', String(r.regressed));
    return r.failed ? 1 : 0;
  } catch (e) {
    if (e instanceof ActionInputError || isGitmlError(e)) ctx.runner.error(e.message, { title: 'gitml' });
    else ctx.runner.error(`internal error: ${(e as Error)?.stack ?? String(e)}`, { title: 'gitml' });
    return 1;
  } finally {
    closeRunStore();
  }
}

// Exit once stdout is flushed: the REST client's keep-alive sockets would hold the job open.
void main().then((code) => {
  process.stdout.write('', () => process.exit(code));
});
