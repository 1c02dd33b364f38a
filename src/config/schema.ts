import * as z from "zod";
import {
  argvSchema,
  checkedString,
  envVarNameSchema,
  httpUrlProblem,
  nonEmptyString,
  pathSchema,
} from "./fields.js";
import {
  chunkingSchema,
  connectionSchema,
  filesTargetSchema,
  postgresPhysicalTargetSchema,
  postgresTargetSchema,
  redisTargetSchema,
  retentionSchema,
  targetSchema,
} from "./target-schema.js";
import { daemonSchema } from "./daemon-schema.js";

/** An S3-compatible bucket. Credentials come from the named environment variables, or the SDK's default chain. */
export const s3Schema = z.strictObject({
  /** Service URL for non-AWS stores (MinIO, Ceph, …). Default: AWS. */
  endpoint: checkedString(httpUrlProblem).optional(),
  /** Bucket name. Required. */
  bucket: nonEmptyString,
  /** Key prefix inside the bucket, so one bucket can hold several repositories. Default: "". */
  prefix: z.string().optional(),
  /** Region. Default: the SDK's (AWS_REGION). */
  region: nonEmptyString.optional(),
  /** Environment variable holding the access key id. Default: the SDK's credential chain. */
  accessKeyIdEnv: envVarNameSchema.optional(),
  /** Environment variable holding the secret access key. Default: the SDK's credential chain. */
  secretAccessKeyEnv: envVarNameSchema.optional(),
  /** Address the bucket as `endpoint/bucket` rather than `bucket.endpoint` (most self-hosted stores need it). Default: false. */
  forcePathStyle: z.boolean().default(false),
});

/** Where snapshots live: exactly one of `path` (local directory) or `s3`. */
export const repositorySchema = z.strictObject({
  /** Local repository directory; relative to the config file. */
  path: pathSchema.optional(),
  /** S3-compatible bucket. */
  s3: s3Schema.optional(),
  /** How long a command waits for a conflicting repository lock before failing. Default: 600. */
  lockTimeoutSeconds: z.number().min(0).default(600),
  /** Scratch space for restores and drills; relative to the config file. Default: the system temp directory. */
  tempDirectory: pathSchema.optional(),
  /**
   * This machine's cache of what the repository holds (the loaded chunk table), so a
   * backup need not decode every pack index; relative to the config file. Default:
   * $XDG_CACHE_HOME/prs-backup, else ~/.cache/prs-backup.
   */
  cacheDirectory: pathSchema.optional(),
  /** zstd compression level of stored chunks, 1–19. Default: 3. */
  compressionLevel: z.int().min(1).max(19).default(3),
});

/** Commands run around in-place restores so the application does not write meanwhile. */
export const servicesSchema = z.strictObject({
  /** argv that stops the services using the data. Default: none. */
  stop: argvSchema.optional(),
  /** argv that starts them again afterwards. Default: none. */
  start: argvSchema.optional(),
});

/** Logging of the daemon and commands. */
export const logSchema = z.strictObject({
  /** Also append log lines to this file; relative to the config file. Default: stderr only. */
  file: pathSchema.optional(),
  /** Least severe level written (`--debug` forces "debug"). Default: "info". */
  level: z.enum(["debug", "info", "warn", "error"]).default("info"),
});

/** Target names become parts of snapshot ids and file names, so they stay plain. */
export const TARGET_NAME_PATTERN = /^[a-z0-9][a-z0-9._-]*$/i;

/** The whole configuration file, before defaults that depend on the target name. */
export const configSchema = z.strictObject({
  repository: repositorySchema,
  services: servicesSchema.optional(),
  /** The things to protect, by name. At least one. */
  targets: z
    .record(
      z.string().regex(TARGET_NAME_PATTERN, {
        error: "invalid target name: use letters, digits, '.', '_' and '-', starting with a letter or digit",
      }),
      targetSchema,
    )
    .refine((targets) => Object.keys(targets).length > 0, { error: "define at least one target" }),
  log: logSchema.prefault({}),
  /** Schedules beyond the targets' own, HTTP, alerts and limits of `prs-backup daemon`. Default: every default. */
  daemon: daemonSchema.prefault({}),
});

/** A JSON Schema of the config file, for editors (yaml-language-server, VS Code). */
export function configJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: "input", unrepresentable: "any" });
}

/** Recursively read-only: the loaded configuration is frozen, and its type says so. */
export type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

type Chunking = Required<z.output<typeof chunkingSchema>>;
type Normalized<T> = Omit<T, "schedule" | "retention" | "chunking"> & {
  /** The target's key under `targets`. */
  name: string;
  schedule: string;
  retention: z.output<typeof retentionSchema>;
  chunking: Chunking;
};
type Draft<T extends z.ZodType> = Normalized<z.output<T>>;

/** The configuration as normalisation builds it, before it is frozen. */
export interface ConfigDraft {
  repository: z.output<typeof repositorySchema>;
  services?: z.output<typeof servicesSchema>;
  targets: Record<string, TargetDraft>;
  log: z.output<typeof logSchema>;
  daemon: z.output<typeof daemonSchema>;
}
export type TargetDraft =
  | Draft<typeof filesTargetSchema>
  | Draft<typeof postgresTargetSchema>
  | Draft<typeof postgresPhysicalTargetSchema>
  | Draft<typeof redisTargetSchema>;

export type RepositoryConfig = DeepReadonly<z.output<typeof repositorySchema>>;
export type S3Config = DeepReadonly<z.output<typeof s3Schema>>;
export type ServicesConfig = DeepReadonly<z.output<typeof servicesSchema>>;
export type LogConfig = DeepReadonly<z.output<typeof logSchema>>;
export type RetentionConfig = DeepReadonly<z.output<typeof retentionSchema>>;
export type ChunkingConfig = DeepReadonly<Chunking>;
export type PostgresConnectionConfig = DeepReadonly<z.output<typeof connectionSchema>>;
export type FilesTargetConfig = DeepReadonly<Draft<typeof filesTargetSchema>>;
export type PostgresTargetConfig = DeepReadonly<Draft<typeof postgresTargetSchema>>;
export type PostgresPhysicalTargetConfig = DeepReadonly<Draft<typeof postgresPhysicalTargetSchema>>;
export type RedisTargetConfig = DeepReadonly<Draft<typeof redisTargetSchema>>;
/** Any target; narrow on `type`. */
export type TargetConfig =
  FilesTargetConfig | PostgresTargetConfig | PostgresPhysicalTargetConfig | RedisTargetConfig;
export type TargetType = TargetConfig["type"];
/** A loaded, validated, defaulted and frozen configuration. */
export type Config = DeepReadonly<ConfigDraft>;
