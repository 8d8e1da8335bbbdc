/**
 * Reads every registry tag of a repository in one `git for-each-ref` call: name, tagged
 * commit, tagger, tagger time and message. One process for any number of tags is what keeps
 * `gitml models` fast at thousands of tags (GTO opens each tag object separately).
 */
import { GitmlError } from '../errors.js';
import { runGit } from '../git.js';
import { parseTag, type ParsedTag } from './grammar.js';
import { parseMessage, type TagMetadata } from './metadata.js';

export interface RegistryTag extends ParsedTag {
  /** The commit the tag points at (for gitml: the runs commit that recorded the run). */
  commit: string;
  /** Committer time of the tagged commit (GTO counts it as an event of the version). */
  commitTime: number;
  /** The tag object's id. */
  object: string;
  tagger: { name: string; email: string };
  /** Tagger time, seconds since the epoch (git keeps whole seconds). */
  time: number;
  /** Tagger time zone offset as git records it, e.g. "+0100". */
  tz: string;
  message: string;
  meta?: TagMetadata;
}

const FIELDS = [
  '%(refname)',
  '%(objecttype)',
  '%(objectname)',
  '%(*objectname)',
  '%(*objecttype)',
  '%(*committerdate:unix)',
  '%(taggername)',
  '%(taggeremail)',
  '%(taggerdate:raw)',
  '%(contents)',
];
// NUL between fields and after the last one; git adds a newline after each record.
const FORMAT = FIELDS.join('%00') + '%00';

export interface ReadTagsOptions {
  dir: string;
}

/**
 * All annotated tags in GTO's grammar. Lightweight tags and tags of other shapes are skipped,
 * as GTO skips them.
 */
export async function readRegistryTags({ dir }: ReadTagsOptions): Promise<RegistryTag[]> {
  return (await readRegistry({ dir })).tags;
}

/**
 * The registry tags, plus the names in GTO's grammar that are not registry events
 * (lightweight tags): GTO still counts their `#N` when it numbers a new tag, and so does gitml.
 */
export async function readRegistry({ dir }: ReadTagsOptions): Promise<{ tags: RegistryTag[]; others: ParsedTag[] }> {
  const r = await runGit(dir, ['for-each-ref', `--format=${FORMAT}`, 'refs/tags']);
  if (r.code !== 0) throw new GitmlError('IO', `cannot list tags: ${r.stderr.trim()}`, { dir });
  const others: ParsedTag[] = [];
  return { tags: parseForEachRef(r.stdout, others), others };
}

/**
 * `meta` is parsed on first use: listing models never needs it, and JSON-parsing every
 * message is most of the reading time at thousands of tags.
 */
function lazyMeta(tag: RegistryTag, contents: string): void {
  let cached: TagMetadata | undefined | null = null;
  Object.defineProperty(tag, 'meta', {
    enumerable: true,
    configurable: true,
    get: () => (cached === null ? (cached = parseMessage(contents)) : cached),
  });
}

export function parseForEachRef(out: string, others?: ParsedTag[]): RegistryTag[] {
  const parts = out.split('\0');
  const tags: RegistryTag[] = [];
  const n = FIELDS.length;
  for (let i = 0; i + n <= parts.length; i += n) {
    const [ref, type, object, peeled, peeledType, commitDate, taggerName, taggerEmail, date, contents] = parts.slice(i, i + n);
    const refname = ref.replace(/^\n/, '');
    const name = refname.slice('refs/tags/'.length);
    const parsed = parseTag(name);
    if (!parsed) continue;
    if (type !== 'tag' || peeledType !== 'commit') {
      others?.push(parsed);
      continue;
    }
    const [secs, tz] = date.split(' ');
    const tag = {
      ...parsed,
      commit: peeled,
      commitTime: Number(commitDate),
      object,
      tagger: { name: taggerName, email: taggerEmail.replace(/^<|>$/g, '') },
      time: Number(secs),
      tz: tz ?? '+0000',
      message: contents,
    } as RegistryTag;
    lazyMeta(tag, contents);
    tags.push(tag);
  }
  return tags;
}
