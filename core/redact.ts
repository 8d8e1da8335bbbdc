/**
 * Masking credentials in URLs before they reach a message, a log, a commit or a reflog.
 * Remotes like `https://user:TOKEN@host/repo.git` (or `https://TOKEN@host/...`, as CI systems
 * write them) are a common way to hand a token to git; gitml must never repeat the token.
 */

// scheme://userinfo@ — userinfo runs to the last '@' before the host's path, query or fragment,
// so a password with a raw '@' in it is masked whole.
const USERINFO = /\b([a-z][a-z0-9+.-]*:\/\/)([^\s/?#'"]*)@/gi;

/**
 * Every URL in `text` with its password masked: `https://user:***@host/...`. A user alone is
 * masked too for http(s), where it is often the token itself (`https://***@host/...`); for
 * ssh and other schemes a user alone is a login name and is kept.
 *
 * Example: `redactUrls('cannot reach https://ci:s3cret@git.example/r.git')` →
 * `'cannot reach https://ci:***@git.example/r.git'`.
 */
export function redactUrls(text: string): string {
  return text.replace(USERINFO, (_m, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    if (colon >= 0) return `${scheme}${userinfo.slice(0, colon)}:***@`;
    return /^https?:\/\/$/i.test(scheme) ? `${scheme}***@` : `${scheme}${userinfo}@`;
  });
}
