/**
 * `gitml deploy --render`: the objects each service would get, from git alone (as `helm
 * template` does): no engine or cluster is contacted.
 */
import { GitmlError } from '../errors.js';
import { desiredState } from './desired.js';
import { driverFor } from './drivers/index.js';

export interface Rendered {
  name: string;
  compute: string;
  text: string;
}

export async function renderServices(o: { dir: string; services?: string[]; rev?: string; env?: NodeJS.ProcessEnv }): Promise<Rendered[]> {
  const state = await desiredState({ dir: o.dir, rev: o.rev });
  const names = o.services?.length ? o.services : [...state.services.keys()].sort();
  const out: Rendered[] = [];
  for (const name of names) {
    const e = state.services.get(name);
    if (!e) throw new GitmlError('UNKNOWN_ENTITY', `there is no service ${JSON.stringify(name)} in gitml/services/ at ${state.ref}`, { service: name });
    if (!e.ok) throw e.error;
    const driver = await driverFor(e.compute, { dir: state.entities.dir, project: state.entities.workspace.spec.name, env: o.env });
    out.push({ name, compute: e.compute.name, text: driver.render(e.service) });
  }
  return out;
}
