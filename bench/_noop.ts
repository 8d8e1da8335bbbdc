import { serviceRepo, SERVICE_ENV } from '../test/support/services.js';
import { spawnSync } from 'node:child_process';
import { BIN } from '../test/support/repo.js';
const r = serviceRepo({ port: 18490 });
const d = spawnSync(process.execPath, [BIN, 'deploy'], { cwd: r.dir, env: { ...process.env, ...SERVICE_ENV }, encoding: 'utf8' });
console.log(d.status, d.stderr.slice(-500));
console.log(r.dir);
