/**
 * Reading a run's outputs back from its pod log. templates/kube/entry.sh prints, after the
 * program exits:
 *
 *   ::gitml:NONCE:begin outputs tar.gz BYTES    a tar of $GITML_OUTPUTS (tar when no gzip)
 *   <base64 lines>
 *   ::gitml:NONCE:end outputs
 *   ::gitml:NONCE:begin metrics gz BYTES        the $GITML_METRICS file (raw when no gzip)
 *   ...
 *   ::gitml:NONCE:toolarge NAME BYTES           instead of a block, when over the cap
 *   ::gitml:NONCE:exit CODE
 *
 * `LogDemux` splits a live log into what the user sees (everything else, passed on as it
 * arrives) and those blocks; `extractOutputs` decodes them into a host folder, refusing any
 * archive entry or link that would land outside it.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { GitmlError } from '../errors.js';

export interface OutputBlock {
  name: string;
  encoding: string;
  size: number;
  base64: string[];
  complete: boolean;
}

export class LogDemux {
  readonly blocks = new Map<string, OutputBlock>();
  readonly tooLarge = new Map<string, number>();
  exitCode: number | undefined;
  private partial = '';
  /** true after part of a line was passed on: the rest of that line is never a marker. */
  private midLine = false;
  private current: OutputBlock | undefined;
  private readonly prefix: string;

  constructor(
    nonce: string,
    private readonly onText: (text: string) => void,
  ) {
    this.prefix = `::gitml:${nonce}:`;
  }

  /** Feed log text in arrival order. */
  push(chunk: string): void {
    let text = this.partial + chunk;
    this.partial = '';
    let out = '';
    for (;;) {
      const nl = text.indexOf('\n');
      if (nl < 0) break;
      const line = text.slice(0, nl);
      text = text.slice(nl + 1);
      if (this.midLine || !this.line(line)) out += line + '\n';
      this.midLine = false;
    }
    // A partial line is held back only while it could still become a marker (or is inside a
    // block), so progress output without newlines still shows live.
    if (text) {
      if (!this.midLine && (this.current || this.prefix.startsWith(text.slice(0, this.prefix.length)))) this.partial = text;
      else {
        out += text;
        this.midLine = true;
      }
    }
    if (out) this.onText(out);
  }

  /** The log ended: flush whatever is pending. */
  end(): void {
    if (this.partial) {
      const p = this.partial;
      this.partial = '';
      if (this.midLine || !this.line(p)) this.onText(p);
    }
  }

  /** Handles one complete line; true when it belongs to the protocol (not shown). */
  private line(raw: string): boolean {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (this.current) {
      if (line === `${this.prefix}end ${this.current.name}`) {
        this.current.complete = true;
        this.current = undefined;
      } else {
        this.current.base64.push(line);
      }
      return true;
    }
    if (!line.startsWith(this.prefix)) return false;
    const [verb, ...rest] = line.slice(this.prefix.length).split(' ');
    if (verb === 'begin' && rest.length === 3) {
      const block: OutputBlock = { name: rest[0], encoding: rest[1], size: Number(rest[2]), base64: [], complete: false };
      this.blocks.set(block.name, block);
      this.current = block;
      return true;
    }
    if (verb === 'toolarge' && rest.length === 2) {
      this.tooLarge.set(rest[0], Number(rest[1]));
      return true;
    }
    if (verb === 'exit' && rest.length === 1) {
      this.exitCode = Number(rest[0]);
      return true;
    }
    return false;
  }
}

function decodeBlock(block: OutputBlock, maxBytes: number): Buffer {
  if (!block.complete) throw new GitmlError('KUBERNETES', `the ${block.name} block in the pod log was cut off before its end marker`, { block: block.name });
  const raw = Buffer.from(block.base64.join(''), 'base64');
  if (raw.length !== block.size) {
    throw new GitmlError('KUBERNETES', `the ${block.name} block in the pod log is damaged (${raw.length} bytes decoded, ${block.size} announced)`, { block: block.name });
  }
  if (block.encoding === 'tar.gz' || block.encoding === 'gz') {
    try {
      return gunzipSync(raw, { maxOutputLength: maxBytes });
    } catch (e) {
      throw new GitmlError('KUBERNETES', `the ${block.name} block could not be decompressed (over ${maxBytes} bytes or damaged)`, { block: block.name }, { cause: e });
    }
  }
  if (block.encoding === 'tar' || block.encoding === 'raw') return raw;
  throw new GitmlError('KUBERNETES', `unknown encoding ${JSON.stringify(block.encoding)} of the ${block.name} block`, { block: block.name });
}

/**
 * Extract a tar into `dest` with the one hardened extractor (core/docker/tar.ts). The tar is
 * the run's own output and its code can print a block of its own (the nonce is on its parent's
 * command line), so it is untrusted: an entry whose path or hard link escapes `dest` throws
 * 'PATH_ESCAPE' (tar in the pod never writes one), and nothing is written or read through a
 * symlink; a symbolic link that leads outside is not kept and is listed in `refused`, as the
 * local target drops such outputs.
 */
export async function extractTar(tar: Buffer, dest: string): Promise<{ files: string[]; refused: string[] }> {
  const { extractTar: extract } = await import('../docker/tar.js');
  const r = await extract(Readable.from([tar]), dest, { onEscape: 'throw' });
  return { files: r.files, refused: r.refused.map((x) => `gitml: warning: output ${x.path} not collected: ${x.reason}`) };
}

export interface ExtractedOutputs {
  /** Files written under outputsDir, '/'-separated. */
  files: string[];
  /** Warnings about outputs not collected (symlinks leaving the folder). */
  warnings: string[];
  metricsFile?: string;
}

/**
 * Decode the blocks a run printed into `outputsDir` and `metricsPath`. Throws 'KUBERNETES'
 * when a block was too large or damaged, 'PATH_ESCAPE' when an entry escapes its folder.
 */
export async function extractOutputs(opts: { demux: LogDemux; outputsDir: string; metricsPath: string; maxExtractBytes?: number }): Promise<ExtractedOutputs> {
  const { demux } = opts;
  const max = opts.maxExtractBytes ?? 1024 * 1024 * 1024;
  if (demux.tooLarge.size > 0) {
    const what = [...demux.tooLarge].map(([n, b]) => `${n} (${b} bytes)`).join(', ');
    throw new GitmlError(
      'KUBERNETES',
      `the run's ${what} are too large to return through the pod log; keep $GITML_OUTPUTS under 4 MiB on this target (write large files to storage the pod can reach, such as an object store, yourself)`,
      { tooLarge: Object.fromEntries(demux.tooLarge) },
    );
  }
  await mkdir(opts.outputsDir, { recursive: true });
  const result: ExtractedOutputs = { files: [], warnings: [] };
  const out = demux.blocks.get('outputs');
  if (out) {
    const ex = await extractTar(decodeBlock(out, max), opts.outputsDir);
    result.files = ex.files;
    result.warnings = ex.refused;
  }
  const metrics = demux.blocks.get('metrics');
  if (metrics) {
    await writeFile(opts.metricsPath, decodeBlock(metrics, max));
    result.metricsFile = opts.metricsPath;
  }
  return result;
}
