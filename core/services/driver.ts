/**
 * The interface every service engine implements. The reconciler reads `actual`, computes a
 * pure plan, then hands steps to `apply` one at a time, in order; it never talks to an engine
 * itself. Docker: core/services/drivers/docker.ts. Kubernetes: core/kube/driver.ts.
 */
import type { ActualService, DesiredService, Step } from './types.js';

export interface ApplyContext {
  /** progress lines for long steps (image builds, waits). */
  progress?: (line: string) => void;
  signal?: AbortSignal;
}

export interface ServiceDriver {
  /** what runs now for a service, found by gitml's labels; null when nothing does. */
  actual(service: string): Promise<ActualService | null>;
  /** names of every service this driver's target runs for this repository (for --prune and `gitml services`). */
  list(): Promise<string[]>;
  /** carry out one step; throws a GitmlError when it cannot (the reconciler records Stalled). */
  apply(step: Step, desired: DesiredService | null, ctx: ApplyContext): Promise<void>;
  /** the objects a desired service becomes, as text (YAML for Kubernetes, container specs for Docker), without contacting the engine (`--render`, `--dry-run`). */
  render(desired: DesiredService): string;
  /** log lines across replicas; follows when `follow` is set until the signal aborts. */
  logs(service: string, opts: { follow: boolean; signal?: AbortSignal; write: (line: string) => void }): Promise<void>;
  /** remove everything the driver created for a service. */
  delete(service: string): Promise<void>;
  /** copy the replicas' sample logs (sampled scoring requests, JSON lines) into `dest`; the files written. */
  sampleLogs?(service: string, dest: string): Promise<string[]>;
}
