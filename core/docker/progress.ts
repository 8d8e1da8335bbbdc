/**
 * Following the Docker engine's progress streams (image build, pull, push). A failed build or
 * push does not make dockerode throw: the error is an `error` field in one of the events, so
 * every event is checked; the text of the stream is kept (bounded) as the build log.
 */
import { TextTail } from '../text-tail.js';
import type { GitmlDocker } from './client.js';

/** Most of a build log kept for the run record and error messages. */
export const MAX_BUILD_LOG = 256 * 1024;

/** A build log that keeps only its last MAX_BUILD_LOG characters (builds can print megabytes). */
export class BuildLog extends TextTail {
  constructor() {
    super(MAX_BUILD_LOG);
  }
}

export interface ProgressEvent {
  stream?: string;
  status?: string;
  progress?: string;
  id?: string;
  error?: string;
  errorDetail?: { message?: string; code?: number };
  aux?: { ID?: string };
}

export interface ProgressOutcome {
  /** The engine's error event, when the build or push failed. */
  failure?: string;
  /** The image id a build announced (`aux.ID`). */
  auxId?: string;
  /** The stream itself broke (the engine went away, the connection dropped). */
  streamError?: Error;
}

/**
 * Follow `stream` to its end, adding its text to `log` and each line to `onProgress`. Never
 * throws: the caller decides what a failure or a broken stream means.
 */
export function followProgress(docker: GitmlDocker, stream: NodeJS.ReadableStream, log: BuildLog, onProgress?: (line: string) => void): Promise<ProgressOutcome> {
  const outcome: ProgressOutcome = {};
  const emit = (text: string) => {
    log.add(text);
    if (onProgress) for (const l of text.split('\n')) if (l.trim()) onProgress(l.replace(/\r/g, '').trimEnd());
  };
  return new Promise((resolve) => {
    docker.modem.followProgress(
      stream,
      (err: Error | null) => {
        if (err) outcome.streamError = err;
        resolve(outcome);
      },
      (ev: ProgressEvent) => {
        if (ev.error || ev.errorDetail) {
          outcome.failure = (ev.errorDetail?.message ?? ev.error ?? 'unknown error').trim();
          emit(`ERROR: ${outcome.failure}\n`);
        } else if (ev.stream) emit(ev.stream);
        else if (ev.status) emit(`${ev.id ? `${ev.id}: ` : ''}${ev.status}${ev.progress ? ` ${ev.progress}` : ''}\n`);
        if (ev.aux?.ID) outcome.auxId = ev.aux.ID;
      },
    );
  });
}
