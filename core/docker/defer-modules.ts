/**
 * dockerode loads, when it is imported, two things most gitml commands never use: gRPC and its
 * protobuf loader (for BuildKit sessions, lib/session.js) and ssh2 (for ssh:// engines,
 * docker-modem's lib/ssh.js). Together they are about half of dockerode's load time, which
 * every `gitml deploy`, `gitml run` on docker and `gitml services` pays. Both modules export a
 * single function, so each is put in Node's require cache as a stand-in that loads the real
 * module the first time it is called. Imported for its effect, before dockerode.
 */
import Module, { createRequire } from 'node:module';

type Fn = (...args: unknown[]) => unknown;

function defer(req: NodeJS.Require, request: string): void {
  let file: string;
  try {
    file = req.resolve(request);
  } catch {
    return; // a different layout of the package: it loads as it always did
  }
  if (req.cache[file]) return;
  let real: Fn | undefined;
  const standIn = function (this: unknown, ...args: unknown[]): unknown {
    if (!real) {
      delete req.cache[file];
      real = req(file) as Fn;
    }
    return real.apply(this, args);
  };
  const m = new Module(file);
  m.filename = file;
  m.loaded = true;
  m.exports = standIn;
  req.cache[file] = m;
}

try {
  const fromDockerode = createRequire(createRequire(import.meta.url).resolve('dockerode'));
  defer(fromDockerode, './session');
  defer(createRequire(fromDockerode.resolve('docker-modem')), './ssh');
} catch {
  /* dockerode not resolvable from here: its own import reports that */
}
