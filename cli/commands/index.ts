import type { Command } from 'commander';
import { register as init } from './init.js';
import { register as validate } from './validate.js';
import { register as run } from './run.js';
import { register as model } from './model.js';
import { register as models } from './models.js';
import { register as runs } from './runs.js';
import { register as sync } from './sync.js';
import { register as manifest } from './manifest.js';
import { register as image } from './image.js';
import { register as serve } from './serve.js';
import { register as env } from './env.js';
import { register as monitor } from './monitor.js';
import { register as deploy } from './deploy.js';
import { register as queue } from './queue.js';
import { register as daemon } from './daemon.js';

/** Every top-level command, in the order `gitml --help` lists them. */
export const commands: Array<(program: Command) => void> = [init, validate, run, model, models, runs, sync, manifest, image, serve, deploy, env, monitor, queue, daemon];
