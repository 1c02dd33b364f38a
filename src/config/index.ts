/**
 * The configuration: find, parse, validate and normalise the config file; resolve secrets
 * when an engine needs them; print it safely.
 */
export { ConfigProblemsError } from "./config-error.js";
export {
  DEFAULT_CHUNKING,
  DEFAULTS_BY_NAME,
  defaultsForTarget,
  exampleConfig,
  type TargetDefaults,
} from "./defaults.js";
export { cronProblem } from "./fields.js";
export {
  CONFIG_FILE_NAME,
  SYSTEM_CONFIG_PATH,
  findConfigFile,
  loadConfig,
  parseConfig,
  type FindConfigOptions,
  type LoadConfigOptions,
} from "./load.js";
export { REDACTED, redactConfig, redactUrl } from "./redact.js";
export { checkSecretFilePermissions, resolveSecret, type SecretRef } from "./secrets.js";
export {
  TARGET_NAME_PATTERN,
  configJsonSchema,
  type ChunkingConfig,
  type Config,
  type DeepReadonly,
  type FilesTargetConfig,
  type LogConfig,
  type PostgresConnectionConfig,
  type PostgresPhysicalTargetConfig,
  type PostgresTargetConfig,
  type RedisTargetConfig,
  type RepositoryConfig,
  type RetentionConfig,
  type S3Config,
  type ServicesConfig,
  type TargetConfig,
  type TargetType,
} from "./schema.js";
export { TARGET_TYPES } from "./target-schema.js";
