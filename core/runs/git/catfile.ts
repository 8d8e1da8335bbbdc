/**
 * A long-lived `git cat-file --batch` child per repository: the fastest way to read many
 * objects (packed or loose) from Node. Requests are pipelined; answers come back in order.
 * The child is unref'd while idle so it never keeps a CLI process alive, and it is restarted
 * if it dies.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Socket } from 'node:net';
import { GitmlError } from '../../errors.js';

export interface GitObject {
  oid: string;
  type: string;
  data: Buffer;
}

interface Pending {
  resolve: (o: GitObject | null) => void;
  reject: (e: unknown) => void;
}

export class CatFile {
  private proc?: ChildProcessWithoutNullStreams;
  private queue: Pending[] = [];
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** header of the object being received, once parsed. */
  private current?: { oid: string; type: string; size: number };

  constructor(private readonly dir: string) {}

  private start(): ChildProcessWithoutNullStreams {
    if (this.proc) return this.proc;
    const proc = spawn('git', ['cat-file', '--batch'], { cwd: this.dir, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    proc.stderr.on('data', () => {});
    const fail = (err: unknown) => {
      if (this.proc !== proc) return;
      this.proc = undefined;
      this.chunks = [];
      this.buffered = 0;
      this.current = undefined;
      const q = this.queue;
      this.queue = [];
      for (const p of q) p.reject(new GitmlError('IO', `git cat-file stopped: ${String((err as Error)?.message ?? err)}`, {}, { retryable: true }));
    };
    proc.on('error', fail);
    proc.on('exit', (code) => fail(new Error(`exit ${code}`)));
    proc.stdin.on('error', fail);
    return proc;
  }

  private setRef(on: boolean): void {
    const p = this.proc;
    if (!p) return;
    const handles = [p, p.stdout as unknown as Socket, p.stdin as unknown as Socket, p.stderr as unknown as Socket];
    for (const h of handles) (on ? h.ref?.() : h.unref?.());
  }

  private take(n: number): Buffer {
    // Concatenate lazily: only what is needed for one object.
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    return out;
  }

  private onData(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    for (;;) {
      if (!this.current) {
        // Find the end of the header line without concatenating everything.
        let nl = -1;
        let off = 0;
        for (const c of this.chunks) {
          const i = c.indexOf(10);
          if (i >= 0) {
            nl = off + i;
            break;
          }
          off += c.length;
        }
        if (nl < 0) return;
        const line = this.take(nl + 1).toString('utf8', 0, nl);
        const parts = line.split(' ');
        if (parts[1] === 'missing' || parts[1] === 'ambiguous' || parts.length < 3) {
          this.deliver(null);
          continue;
        }
        this.current = { oid: parts[0], type: parts[1], size: Number(parts[2]) };
      }
      if (this.buffered < this.current.size + 1) return;
      const data = Buffer.from(this.take(this.current.size + 1).subarray(0, this.current.size));
      const { oid, type } = this.current;
      this.current = undefined;
      this.deliver({ oid, type, data });
    }
  }

  private deliver(o: GitObject | null): void {
    const p = this.queue.shift();
    if (this.queue.length === 0) this.setRef(false);
    p?.resolve(o);
  }

  /** Read one object by id or revision expression (`<commit>:<path>`); null when missing. */
  read(spec: string): Promise<GitObject | null> {
    return this.readMany([spec]).then((r) => r[0]);
  }

  readMany(specs: string[]): Promise<(GitObject | null)[]> {
    if (specs.length === 0) return Promise.resolve([]);
    for (const s of specs) if (s.includes('\n')) throw new GitmlError('INTERNAL', 'object name with a newline');
    const proc = this.start();
    this.setRef(true);
    const out = specs.map(
      (_s) =>
        new Promise<GitObject | null>((resolve, reject) => {
          this.queue.push({ resolve, reject });
        }),
    );
    proc.stdin.write(specs.join('\n') + '\n');
    return Promise.all(out);
  }

  close(): void {
    const p = this.proc;
    if (!p) return;
    this.proc = undefined;
    p.stdin.end();
    p.kill();
  }
}

const readers = new Map<string, CatFile>();

/** The shared reader for a repository folder. */
export function catFile(dir: string): CatFile {
  let r = readers.get(dir);
  if (!r) readers.set(dir, (r = new CatFile(dir)));
  return r;
}

/** Stop every reader child (tests and benchmarks call this when done). */
export function closeCatFiles(): void {
  for (const r of readers.values()) r.close();
  readers.clear();
}
