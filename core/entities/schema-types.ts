/* eslint-disable */
// Generated from schemas/*.schema.json by core/entities/generate-types.ts. Do not edit: run `npm run gen:types`.

/**
 * gitml.yaml at the repository root: the project, its defaults, branch names, artifact store and who may assign which model stage.
 */
export interface Workspace {
  /**
   * Always `Workspace` for gitml.yaml.
   */
  kind: 'Workspace';
  /**
   * Project name (lowercase letters, digits, '.', '_' and '-').
   */
  name: string;
  /**
   * What this project is about.
   */
  description?: string;
  /**
   * Defaults used when an experiment does not name its own.
   */
  defaults?: {
    /**
     * Compute target used by experiments that name none.
     */
    compute?: string;
    /**
     * Environment used by experiments that name none.
     */
    environment?: string;
  };
  /**
   * Branch names gitml uses.
   */
  branches?: {
    /**
     * The orphan branch that holds run history.
     */
    runs?: string;
    /**
     * The branch that holds service status and monitoring reports.
     */
    status?: string;
  };
  /**
   * Where run artifacts go. Files up to `inlineMaxBytes` are stored on the runs branch; larger ones in the content-addressed store.
   */
  artifacts?: {
    /**
     * Largest artifact (bytes) kept on the runs branch itself.
     */
    inlineMaxBytes?: number;
    /**
     * Content-addressed store (sha256) for large artifacts. `git` (default): git blobs under refs/gitml/artifacts/*, carried by `gitml push` / `gitml pull`. `local`: a folder. `s3`: an S3-compatible bucket; credentials come from the AWS environment variables or profiles, never from this file.
     */
    store?: {
      /**
       * Store kind. `git`: blobs in this repository, pushed and pulled with the runs. `local`: a folder on this machine or a shared mount. `s3`: an S3-compatible object store.
       */
      type: 'git' | 'local' | 's3';
      /**
       * Folder for the `local` store; relative paths are relative to the repository's .git folder. Default: .git/gitml/artifacts.
       */
      path?: string;
      /**
       * `git` store: the remote a missing artifact is fetched from on first use. Default: origin.
       */
      remote?: string;
      /**
       * `s3` store: the bucket.
       */
      bucket?: string;
      /**
       * `s3` store: key prefix, e.g. `team/project/` (objects are `<prefix>sha256/<ab>/<rest>`).
       */
      prefix?: string;
      /**
       * `s3` store: the region (default: AWS_REGION, else us-east-1).
       */
      region?: string;
      /**
       * `s3` store: endpoint URL of an S3-compatible service (MinIO, Ceph, R2, GCS interoperability); omit for AWS.
       */
      endpoint?: string;
      /**
       * `s3` store: address the bucket in the path (`endpoint/bucket/key`), as most S3-compatible services need.
       */
      forcePathStyle?: boolean;
    };
  };
  /**
   * Model stages that may be assigned, in promotion order.
   */
  stages?: string[];
  /**
   * Who may assign each stage: stage name to a list of git author emails or names; `*` allows everyone. Stages not listed are open to everyone.
   */
  access?: {
    [k: string]: string[];
  };
}

/**
 * A training or evaluation program: its command, parameters, inputs, outputs, environment and compute target. File: gitml/experiments/<name>.yaml.
 */
export interface Experiment {
  /**
   * Always `Experiment`.
   */
  kind: 'Experiment';
  /**
   * Optional; when given it must equal the file stem.
   */
  name?: string;
  /**
   * What this experiment does.
   */
  description?: string;
  /**
   * Folder (relative to the repository root) that is the working directory of the command.
   */
  code?: string;
  /**
   * The command to run. A list of arguments, or a string split into arguments like a shell would split words (no shell runs; no expansion). `${{params.x}}`, `${{inputs.x}}` and `${{outputs.x}}` are replaced inside each argument.
   */
  command: string | [string, ...string[]];
  /**
   * Declared parameters: name to a default value or a full declaration. Only declared parameters may be set with --param.
   */
  params?: {
    [k: string]: string | number | boolean | Param;
  };
  /**
   * Input files or folders (relative to the repository root), hashed for lineage: name to a path or a declaration.
   */
  inputs?: {
    [k: string]:
      | string
      | {
          /**
           * File or folder relative to the repository root.
           */
          path: string;
          description?: string;
        };
  };
  /**
   * Files the run writes into $GITML_OUTPUTS, collected as artifacts: name to a path relative to the outputs folder, or a declaration.
   */
  outputs?: {
    [k: string]:
      | string
      | {
          /**
           * Path relative to $GITML_OUTPUTS.
           */
          path: string;
          description?: string;
        };
  };
  /**
   * Name of an Environment (gitml/environments/<name>.yaml). Default: the workspace default.
   */
  environment?: string;
  /**
   * Name of a ComputeTarget (gitml/compute/<name>.yaml). Default: the workspace default.
   */
  compute?: string;
  /**
   * How runs of this experiment are compared.
   */
  metrics?: {
    /**
     * The metric that ranks runs.
     */
    primary?: string;
    /**
     * Whether a larger or a smaller primary metric is better.
     */
    goal?: 'maximize' | 'minimize';
  };
  /**
   * Which commits start a run automatically (daemon and GitHub Action).
   */
  triggers?: {
    /**
     * Branch name globs, e.g. `main`, `release/*`.
     */
    branches?: string[];
    /**
     * Path globs; a commit that changes none of them does not trigger a run.
     */
    paths?: string[];
    /**
     * Run on pull requests and compare with the base branch.
     */
    pullRequests?: boolean;
  };
  /**
   * Kill the run after this long and record it as timed_out, e.g. `90s`, `30m`, `2h`, or a number of seconds.
   */
  timeout?: number | string;
}
export interface Param {
  /**
   * Value type; --param values are converted and checked.
   */
  type?: 'string' | 'number' | 'integer' | 'boolean';
  /**
   * Value used when the run does not set it.
   */
  default?: string | number | boolean;
  description?: string;
  /**
   * Allowed values.
   */
  enum?: (string | number | boolean)[];
  /**
   * Smallest allowed value (numbers).
   */
  minimum?: number;
  /**
   * Largest allowed value (numbers).
   */
  maximum?: number;
}

/**
 * Where runs execute: a local process, a Docker engine (local or remote), a Kubernetes Job, or Spark. File: gitml/compute/<name>.yaml.
 */
export type ComputeTarget = LocalCompute | DockerCompute | KubernetesCompute | SparkCompute;
/**
 * Always `ComputeTarget`.
 */
export type Kind = 'ComputeTarget';
/**
 * Optional; when given it must equal the file stem.
 */
export type Name = string;
/**
 * What this target is.
 */
export type Description = string;
/**
 * How many runs the daemon starts on this target at once.
 */
export type Concurrency = number;

export interface LocalCompute {
  kind: Kind;
  name?: Name;
  description?: Description;
  concurrency?: Concurrency;
  /**
   * A child process on this machine.
   */
  type: 'local';
  /**
   * Folder for scratch checkouts of the committed code. Default: the system temp folder.
   */
  workdir?: string;
}
export interface DockerCompute {
  kind: Kind;
  name?: Name;
  description?: Description;
  concurrency?: Concurrency;
  /**
   * A container on a Docker engine.
   */
  type: 'docker';
  /**
   * Engine address: unix:///var/run/docker.sock (default, or $DOCKER_HOST), tcp://HOST:PORT, ssh://USER@HOST.
   */
  host?: string;
  /**
   * TLS for tcp:// engines: file paths (relative to the repository root or absolute, never committed secrets).
   */
  tls?: {
    /**
     * CA certificate file.
     */
    ca?: string;
    /**
     * Client certificate file.
     */
    cert?: string;
    /**
     * Client key file.
     */
    key?: string;
    /**
     * Verify the engine's certificate.
     */
    verify?: boolean;
  };
  resources?: Resources;
  /**
   * Docker network for the run container (default: the engine's default bridge).
   */
  network?: string;
  /**
   * uid:gid the run container runs as. Never root.
   */
  user?: string;
}
/**
 * Resource requests/limits for the run.
 */
export interface Resources {
  /**
   * CPU cores, e.g. 2 or "500m".
   */
  cpu?: string | number;
  /**
   * Memory, e.g. 512Mi, 4Gi.
   */
  memory?: string;
  /**
   * Number of GPUs.
   */
  gpu?: number;
}
export interface KubernetesCompute {
  kind: Kind;
  name?: Name;
  description?: Description;
  concurrency?: Concurrency;
  /**
   * A batch/v1 Job in a Kubernetes cluster.
   */
  type: 'kubernetes';
  /**
   * Kubeconfig file. Default: $KUBECONFIG or ~/.kube/config.
   */
  kubeconfig?: string;
  /**
   * Kubeconfig context. Default: the current context.
   */
  context?: string;
  /**
   * Namespace for Jobs, Deployments and Services.
   */
  namespace?: string;
  /**
   * Registry the cluster pulls environment and model images from (images are pushed there).
   */
  registry?: string;
  /**
   * Service account of run pods.
   */
  serviceAccount?: string;
  resources?: Resources;
  /**
   * activeDeadlineSeconds of the Job.
   */
  deadline?: number;
  /**
   * Retries of a failed pod.
   */
  backoffLimit?: number;
  /**
   * Whether the Job is kept after the run.
   */
  keep?: 'always' | 'on-failure' | 'never';
  /**
   * Node labels the run and service pods must match.
   */
  nodeSelector?: {
    [k: string]: string;
  };
  /**
   * Taints the pods tolerate (a GPU node pool is usually tainted: without a toleration its pods stay Pending).
   */
  tolerations?: {
    /**
     * Taint key; empty with operator Exists tolerates every taint.
     */
    key?: string;
    /**
     * Equal matches `value`; Exists any value.
     */
    operator?: 'Exists' | 'Equal';
    /**
     * Taint value (operator Equal).
     */
    value?: string;
    /**
     * Taint effect; empty matches every effect.
     */
    effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
    /**
     * How long a NoExecute taint is tolerated.
     */
    tolerationSeconds?: number;
  }[];
  /**
   * A core/v1 Affinity (nodeAffinity, podAffinity, podAntiAffinity) for the pods, as in a pod spec.
   */
  affinity?: {};
  /**
   * Names of Secrets (in the namespace) the kubelet pulls the images with.
   */
  imagePullSecrets?: string[];
  /**
   * PriorityClass of the pods.
   */
  priorityClassName?: string;
  /**
   * Seconds a pod may stay unschedulable (or unable to pull or start) before the run or the rollout fails with the scheduler's reason.
   */
  pendingDeadline?: number;
  /**
   * A Gateway API Gateway for services on this compute: gitml then writes an HTTPRoute whose weights split traffic exactly between the stable and canary versions (without it, the split follows the replica ratio).
   */
  gateway?: {
    /**
     * The Gateway's name.
     */
    name: string;
    /**
     * The Gateway's namespace. Default: the compute's.
     */
    namespace?: string;
    /**
     * A listener of the Gateway.
     */
    sectionName?: string;
    /**
     * Host names the route answers.
     */
    hostnames?: string[];
    /**
     * Path prefix routed to the service.
     */
    pathPrefix?: string;
  };
}
export interface SparkCompute {
  kind: Kind;
  name?: Name;
  description?: Description;
  concurrency?: Concurrency;
  /**
   * spark-submit to a Spark master.
   */
  type: 'spark';
  /**
   * Spark master URL: local[N], local[*], spark://HOST:PORT, k8s://https://HOST:PORT or yarn.
   */
  master: string;
  /**
   * spark-submit --deploy-mode.
   */
  deployMode?: 'client' | 'cluster';
  /**
   * Spark installation whose bin/spark-submit is used. Default: spark-submit from the environment's Python (pyspark) or PATH.
   */
  sparkHome?: string;
  /**
   * --conf key=value pairs.
   */
  conf?: {
    [k: string]: string | number | boolean;
  };
  /**
   * --executor-memory, e.g. 2g.
   */
  executorMemory?: string;
  /**
   * --driver-memory, e.g. 1g.
   */
  driverMemory?: string;
}

/**
 * The software a run needs: a base image plus Debian and Python packages, or a Dockerfile; for local runs an optional Python interpreter or venv. Content-hashed: the same spec gives the same image. File: gitml/environments/<name>.yaml.
 */
export interface Environment {
  /**
   * Always `Environment`.
   */
  kind: 'Environment';
  /**
   * Optional; when given it must equal the file stem.
   */
  name?: string;
  description?: string;
  /**
   * Base image for container targets (must exist on the engine or be pullable), e.g. gitml/python:bookworm.
   */
  image?: string;
  /**
   * A Dockerfile (relative to the repository root) used instead of image/apt/pip.
   */
  dockerfile?: string;
  /**
   * Build context folder for `dockerfile`, relative to the repository root.
   */
  context?: string;
  /**
   * Debian packages installed into the image.
   */
  apt?: string[];
  /**
   * Python requirement specifiers installed into the image (or the local venv).
   */
  pip?: string[];
  /**
   * A requirements.txt (relative to the repository root) installed like `pip`.
   */
  requirements?: string;
  /**
   * Python interpreter for the `local` target: a command on PATH or a path.
   */
  python?: string;
  /**
   * For the `local` target: a virtualenv folder (relative to the repository root or absolute) whose bin/ is put first on PATH.
   */
  venv?: string;
  /**
   * Environment variables set for every run (never secrets: they are recorded in lineage).
   */
  variables?: {
    [k: string]: string;
  };
  /**
   * Names of variables passed through from the caller's environment to the run; their values are never recorded or logged.
   */
  secrets?: string[];
}

/**
 * Which experiment output is the model, how it is loaded and scored, and its sample data. File: gitml/models/<name>.yaml.
 */
export interface Model {
  /**
   * Always `Model`.
   */
  kind: 'Model';
  /**
   * Optional; when given it must equal the file stem.
   */
  name?: string;
  description?: string;
  /**
   * The Experiment whose runs produce this model.
   */
  experiment: string;
  /**
   * The experiment output (name in its `outputs`) that is the model file.
   */
  artifact: string;
  /**
   * `sklearn`: a pickled estimator loaded by the built-in loader. `python`: the scoring script does all the work.
   */
  flavor?: 'sklearn' | 'python';
  /**
   * Scoring script (relative to the repository root) with init() and run(data); taken from the run's source commit. Default: the built-in loader of the flavor.
   */
  scoring?: string;
  /**
   * The experiment output that holds sample input data (JSON: a list of records or {columns, data}); it defines the input schema.
   */
  sample?: string;
  /**
   * Environment of the scoring image. Default: the experiment's environment.
   */
  environment?: string;
  /**
   * The experiment output that holds the training reference for drift monitoring: rows of input features and, optionally, `prediction` (JSON lines, a JSON list of records, or CSV with a header). Default: the sample data.
   */
  reference?: string;
}

/**
 * A scoring service deployed from a model version or stage onto a Docker or Kubernetes compute target, reconciled from git. File: gitml/services/<name>.yaml.
 */
export interface Service {
  /**
   * Always `Service`.
   */
  kind: 'Service';
  /**
   * Optional; when given it must equal the file stem.
   */
  name?: string;
  description?: string;
  /**
   * The Model this service serves.
   */
  model: string;
  /**
   * Serve the version currently assigned to this stage (default: production).
   */
  stage?: string;
  /**
   * Serve this exact version instead of a stage, e.g. v1.2.0.
   */
  version?: string;
  /**
   * A ComputeTarget of type docker or kubernetes.
   */
  compute: string;
  /**
   * Number of serving replicas.
   */
  replicas?: number;
  /**
   * Port published on the host (docker) or by the Service (kubernetes).
   */
  port?: number;
  /**
   * Resources of each replica.
   */
  resources?: {
    cpu?: string | number;
    memory?: string;
  };
  /**
   * Send a share of traffic to another version or stage.
   */
  canary?: {
    stage?: string;
    version?: string;
    /**
     * Percent of requests sent to the canary.
     */
    weight: number;
  };
  /**
   * Request sampling, drift detection and retraining.
   */
  monitoring?: {
    /**
     * How often `gitml daemon` monitors the service (its deployed replicas' sampled requests against the reference), records the report and, past `retrain.threshold`, retrains. Without it the daemon does not monitor the service.
     */
    every?: string;
    /**
     * Share of requests written to the sample log.
     */
    sampleRate?: number;
    /**
     * How drift between served requests and the training sample is measured.
     */
    drift?: {
      /**
       * Drift test for every column. `auto` chooses per column as Evidently does: a reference of at most 1,000 rows gets Kolmogorov-Smirnov (numeric, more than 5 values) or chi-squared, drifted when p < 0.05; a larger one gets the normed Wasserstein distance or Jensen-Shannon, drifted above 0.1. `psi` (above 0.1) on request.
       */
      method?: 'auto' | 'ks' | 'chi2' | 'psi' | 'js' | 'wasserstein';
      /**
       * Drift threshold of the method: a p-value below which a column drifted (ks, chi2), or a distance above which it did (psi, js, wasserstein).
       */
      threshold?: number;
    };
    /**
     * Start a run of an experiment when drift passes a threshold, register its model, and optionally promote it.
     */
    retrain?: {
      /**
       * Experiment started when drift passes the threshold.
       */
      experiment?: string;
      /**
       * Share of drifted input columns (0..1) at which retraining starts.
       */
      threshold?: number;
      /**
       * Stage the retrained version is promoted to when it beats the version in that stage by the experiment's primary metric and goal. Without it the new version is only registered.
       */
      promote?: string;
      /**
       * After a failed retraining, wait this long before the next one (default 1h).
       */
      backoff?: string;
    };
  };
}
