/**
 * A long-lived `git cat-file --batch` child per repository: the fastest way to read many
 * objects (packed or loose) from Node. Requests are pipelined; answers come back in order.
 * The child is unref'd while idle so it never keeps a CLI process alive, and it is restarted
 * if it dies.
 */
import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import type { Socket } from 'node:net';
import { GitmlError } from '../../errors.js';
import { childProcess } from './builtins.js';

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
  private head = 0;
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private parts: Buffer[] = [];
  private partsLen = 0;
  private waitFor = 0;
  /** header of the object being received, once parsed. */
  private current?: { oid: string; type: string; size: number };

  constructor(private readonly dir: string) {}

  private start(): ChildProcessWithoutNullStreams {
    if (this.proc) return this.proc;
    const proc = childProcess().spawn('git', ['cat-file', '--batch'], { cwd: this.dir, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout.on('data', (chunk: Buffer) => this.onData(chunk));
    proc.stderr.on('data', () => {});
    const fail = (err: unknown) => {
      if (this.proc !== proc) return;
      this.proc = undefined;
      this.buf = Buffer.alloc(0);
      this.pos = 0;
      this.parts = [];
      this.partsLen = 0;
      this.waitFor = 0;
      this.current = undefined;
      const q = this.queue.slice(this.head);
      this.queue = [];
      this.head = 0;
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

  private onData(chunk: Buffer): void {
    if (this.waitFor > 0) {
      // A large object is arriving: gather its chunks and join them once.
      this.parts.push(chunk);
      this.partsLen += chunk.length;
      if (this.partsLen < this.waitFor) return;
      this.buf = Buffer.concat(this.parts, this.partsLen);
      this.parts = [];
      this.partsLen = 0;
      this.waitFor = 0;
    } else {
      // One buffer and a read position: only the unparsed tail is ever copied.
      this.buf = this.pos < this.buf.length ? Buffer.concat([this.buf.subarray(this.pos), chunk]) : chunk;
    }
    this.pos = 0;
    const buf = this.buf;
    for (;;) {
      if (!this.current) {
        const nl = buf.indexOf(10, this.pos);
        if (nl < 0) return;
        const line = buf.toString('latin1', this.pos, nl);
        this.pos = nl + 1;
        const sp1 = line.indexOf(' ');
        const sp2 = line.indexOf(' ', sp1 + 1);
        const type = line.slice(sp1 + 1, sp2 < 0 ? undefined : sp2);
        if (sp2 < 0 || type === 'missing' || type === 'ambiguous') {
          this.deliver(null);
          continue;
        }
        this.current = { oid: line.slice(0, sp1), type, size: Number(line.slice(sp2 + 1)) };
      }
      const need = this.current.size + 1;
      if (buf.length - this.pos < need) {
        if (need > 1 << 20) {
          const tail = buf.subarray(this.pos);
          this.parts = [tail];
          this.partsLen = tail.length;
          this.waitFor = need;
          this.buf = Buffer.alloc(0);
          this.pos = 0;
        }
        return;
      }
      const data = buf.subarray(this.pos, this.pos + this.current.size);
      this.pos += need;
      const { oid, type } = this.current;
      this.current = undefined;
      this.deliver({ oid, type, data });
    }
  }

  private deliver(o: GitObject | null): void {
    // An index into the queue: Array.shift() would make a 10,000-object batch quadratic.
    const p = this.queue[this.head++];
    if (this.head >= this.queue.length) {
      this.queue = [];
      this.head = 0;
      this.setRef(false);
    }
    p?.resolve(o);
  }

  /** Read one object by id or revision expression (`<commit>:<path>`); null when missing. */
  read(spec: string): Promise<GitObject | null> {
    return this.readMany([spec]).then((r) => r[0]);
  }

  readMany(specs: string[]): Promise<(GitObject | null)[]> {
    return Promise.all(this.readEach(specs));
  }

  /** One promise per object, each settling as soon as its object has arrived. */
  readEach(specs: string[]): Promise<GitObject | null>[] {
    if (specs.length === 0) return [];
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
    return out;
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
