/**
 * Where the stores report a transfer that takes a while (a lazy fetch before `serve`, an eager
 * pull). Core never writes to the terminal itself: the CLI installs a reporter at start-up,
 * the daemon or a test may install another; the default says nothing.
 */
export interface TransferProgress {
  update(msg: string): void;
  done(msg?: string): void;
}

const silent: TransferProgress = { update() {}, done() {} };
let current: () => TransferProgress = () => silent;

export function setTransferProgress(factory: () => TransferProgress): void {
  current = factory;
}

export function transferProgress(): TransferProgress {
  return current();
}

export function fmtBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const u = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < u.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${u[i]}`;
}
