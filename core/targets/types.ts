/**
 * One interface for every compute target (local process, Docker, Kubernetes Job, Spark), as
 * act's container.Container has its HostEnvironment twin. The run orchestration
 * (core/run/) resolves the experiment, substitutes the command with the target's own paths,
 * and records the result; a target only runs a prepared job and hands back its outputs.
 */
import type { ComputeTarget, Environment, Loaded } from '../entities/types.js';

/** Paths as the run's process sees them on that target. */
export interface TargetLayout {
  /** Where the exported commit tree is (the repository root as of the run's commit). */
  root: string;
  /** $GITML_OUTPUTS: a folder whose files are collected as artifacts. */
  outputs: string;
  /** $GITML_METRICS: a JSON-lines file of {name, value, step, timestamp}. */
  metrics: string;
}

export type TargetStatus = 'completed' | 'failed' | 'canceled' | 'timed_out';

/** Why a job's AbortSignal fired: `signal.reason` is one of these. */
export type AbortReason = 'cancel' | 'timeout';

export interface TargetJob {
  runId: string;
  experiment: string;
  /** Host folder holding the exported commit tree (also the build context for images). */
  codeDir: string;
  /** Working directory relative to the repository root (the experiment's `code`), '/'-separated. */
  cwd: string;
  /** The command, already substituted with this target's layout paths. */
  argv: string[];
  /** Variables recorded in lineage: GITML_RUN_ID, GITML_OUTPUTS, GITML_METRICS, the environment's variables. */
  env: Record<string, string>;
  /** Variables passed to the process but never recorded or logged. */
  secretEnv: Record<string, string>;
  environment: Loaded<Environment>;
  /** Content digest of the environment spec (and files it references). */
  environmentDigest: string;
  compute: Loaded<ComputeTarget>;
  /** Repository root on the host (for resolving paths such as a venv or TLS files). */
  repoDir: string;
  /** Fires on Ctrl-C (reason 'cancel') or timeout (reason 'timeout'): stop the run on its target. */
  signal: AbortSignal;
  /**
   * The experiment's `timeout` in milliseconds, when it has one. The orchestration enforces it
   * through `signal` (from the start of the run, image build included); a target that can also
   * hand it to the platform does, so the limit holds even if gitml dies (the kubernetes
   * target's Job gets it as activeDeadlineSeconds).
   */
  timeoutMs?: number;
  /** Live output, in order, as it arrives. */
  onLog: (chunk: string, stream: 'stdout' | 'stderr') => void;
  /** Status line updates (building image, pulling, waiting for pod...). */
  onProgress?: (message: string) => void;
}

export interface TargetResult {
  status: TargetStatus;
  exitCode: number | null;
  /** Plain-words reason when not completed (build log tail, signal, deadline...). */
  error?: string;
  /** Host folder holding the collected outputs (may be empty). */
  outputsDir: string;
  /** Host path of the collected metrics file, if the run wrote one. */
  metricsFile?: string;
  /** Image the run used, for container targets. */
  image?: string;
  imageDigest?: string;
  /** Where it ran (hostname, engine address, cluster/namespace/pod). */
  host: string;
}

export interface Target {
  readonly type: ComputeTarget['type'];
  /** Paths the process sees for this job. Pure. */
  layout(runId: string): TargetLayout;
  /** Run the job to its end; never throws for a run that merely failed — that is a result. */
  run(job: TargetJob): Promise<TargetResult>;
}
