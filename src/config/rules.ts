import type { Problem } from "./issues.js";
import type { ConfigDraft, TargetDraft } from "./schema.js";

/**
 * A cross-field rule: what one field's schema cannot see. Runs on the normalised config
 * (paths absolute, defaults applied), so `./a` and `a` count as the same path.
 */
export type ConfigRule = (config: ConfigDraft) => Problem[];

/** The repository is local or S3, not both and not neither. */
export const repositoryHasOneLocation: ConfigRule = ({ repository }) =>
  (repository.path === undefined) === (repository.s3 === undefined)
    ? [{ path: ["repository"], message: "set exactly one of path (a local directory) or s3" }]
    : [];

/** Half a key pair would fail at the first upload; say so now. */
export const s3CredentialsArePaired: ConfigRule = ({ repository: { s3 } }) =>
  s3 !== undefined && (s3.accessKeyIdEnv === undefined) !== (s3.secretAccessKeyEnv === undefined)
    ? [{ path: ["repository", "s3"], message: "set both accessKeyIdEnv and secretAccessKeyEnv, or neither" }]
    : [];

/** Stopping services with no way to start them again would leave the application down after a restore. */
export const servicesArePaired: ConfigRule = ({ services }) =>
  services !== undefined && (services.stop === undefined) !== (services.start === undefined)
    ? [{ path: ["services"], message: "set both stop and start, or neither" }]
    : [];

/** Two password sources would leave it unclear which one is used. */
export const onePasswordSource: ConfigRule = (config) =>
  eachTarget(config, (target) => {
    const holder = secretHolder(target);
    if (holder === undefined) return [];
    const [where, ref] = holder;
    return ref.passwordEnv !== undefined && ref.passwordFile !== undefined
      ? [{ path: where, message: "set only one of passwordEnv or passwordFile" }]
      : [];
  });

/** A Redis URL that carries a password already competes with passwordEnv / passwordFile. */
export const redisPasswordNotTwice: ConfigRule = (config) =>
  eachTarget(config, (target) => {
    if (target.type !== "redis" || (target.passwordEnv ?? target.passwordFile) === undefined) return [];
    const url = new URL(target.url);
    return url.password === ""
      ? []
      : [
          {
            path: [target.name, "url"],
            message: "has a password and passwordEnv/passwordFile is set too; keep one",
          },
        ];
  });

/** The same path twice would back the same files up twice, and restore them over each other. */
export const filePathsAreUnique: ConfigRule = (config) =>
  eachTarget(config, (target) => {
    if (target.type !== "files") return [];
    return target.paths.flatMap((p, i) => {
      const first = target.paths.indexOf(p);
      return first === i
        ? []
        : [{ path: [target.name, "paths", i], message: `repeats paths[${first}] (${p})` }];
    });
  });

/** The chunker needs min < avg < max and an average that is a power of two (it masks hash bits). */
export const chunkSizesAreOrdered: ConfigRule = (config) =>
  eachTarget(config, ({ name, chunking: { minSize, avgSize, maxSize } }) => {
    if ((avgSize & (avgSize - 1)) !== 0) {
      return [{ path: [name, "chunking", "avgSize"], message: `must be a power of two, got ${avgSize}` }];
    }
    return minSize < avgSize && avgSize < maxSize
      ? []
      : [
          {
            path: [name, "chunking"],
            message: `need minSize < avgSize < maxSize, got ${minSize} / ${avgSize} / ${maxSize} (omitted sizes take the defaults)`,
          },
        ];
  });

/** An empty retention would keep only the newest snapshot, which nobody means by writing `{}`. */
export const retentionHasARule: ConfigRule = (config) =>
  eachTarget(config, ({ name, retention }) =>
    Object.keys(retention).length === 0
      ? [
          {
            path: [name, "retention"],
            message: "give at least one rule (days, weeks, keepLast, keepDaily, …)",
          },
        ]
      : [],
  );

/** Every rule, in the order their problems are reported. */
export const CONFIG_RULES: readonly ConfigRule[] = [
  repositoryHasOneLocation,
  s3CredentialsArePaired,
  servicesArePaired,
  onePasswordSource,
  redisPasswordNotTwice,
  filePathsAreUnique,
  chunkSizesAreOrdered,
  retentionHasARule,
];

/** Runs every rule and collects all their problems. */
export function checkRules(config: ConfigDraft, rules: readonly ConfigRule[] = CONFIG_RULES): Problem[] {
  return rules.flatMap((rule) => rule(config));
}

// Runs a per-target check; its paths are relative to the target and get `targets.<name>` prepended.
function eachTarget(config: ConfigDraft, check: (target: TargetDraft) => Problem[]): Problem[] {
  return Object.values(config.targets).flatMap((target) =>
    check(target).map((p) => ({ ...p, path: ["targets", ...p.path] })),
  );
}

function secretHolder(
  target: TargetDraft,
): [PropertyKey[], { passwordEnv?: string; passwordFile?: string }] | undefined {
  if (target.type === "redis") return [[target.name], target];
  if (target.type === "postgres" || target.type === "postgres-physical") {
    return [[target.name, "connection"], target.connection];
  }
  return undefined;
}
