import { ConfigError } from "../errors.js";

/**
 * A configuration with several problems at once. Reporting them all in one go spares
 * the operator a fix-one-rerun loop; each problem is one line that names the file and
 * the field (`prs-backup.yaml: targets.redis.schedule: invalid cron expression "61 25 * * *"`).
 */
export class ConfigProblemsError extends ConfigError {
  /** One line per problem, in the order found. */
  readonly problems: string[];

  /** @param problems - one line each; the error message is them joined by newlines. */
  constructor(problems: string[], options?: { cause?: unknown }) {
    super(problems.join("\n"), options);
    this.problems = [...problems];
  }
}
