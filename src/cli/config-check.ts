import type { Command } from "commander";
import { stringify } from "yaml";
import { redactConfig, resolveSecret } from "../config/index.js";
import type { CommandRuntime } from "./io.js";
import { ConfigError } from "../errors.js";

/** `config check`: validate, resolve every secret reference, print the effective config (redacted). */
export function registerConfig(program: Command, runtime: () => CommandRuntime): void {
  const config = program.command("config").description("configuration commands");
  config
    .command("check")
    .description("validate; print the effective config, secrets redacted")
    .action(async () => {
      const rt = runtime();
      const { file, config: cfg } = await rt.loadConfig();
      const problems: string[] = [];
      for (const target of Object.values(cfg.targets)) {
        const refs = secretRefs(target);
        for (const [field, ref] of refs) {
          try {
            await resolveSecret(ref, `targets.${target.name}${field}`, rt.io.env);
          } catch (err) {
            problems.push(err instanceof Error ? err.message : String(err));
          }
        }
      }
      if (problems.length > 0) throw new ConfigError(problems.map((p) => `${file}: ${p}`).join("\n"));
      if (rt.options.json) rt.printJson({ file, valid: true, config: redactConfig(cfg) });
      else rt.print(`# ${file}: valid\n${stringify(redactConfig(cfg))}`);
    });
}

/** The secret references of a target: its own and its connection's. */
function secretRefs(target: object): [string, { passwordEnv?: string; passwordFile?: string }][] {
  const refs: [string, { passwordEnv?: string; passwordFile?: string }][] = [];
  const t = target as {
    passwordEnv?: string;
    passwordFile?: string;
    connection?: { passwordEnv?: string; passwordFile?: string };
  };
  if (t.passwordEnv || t.passwordFile) refs.push(["", t]);
  if (t.connection && (t.connection.passwordEnv || t.connection.passwordFile))
    refs.push([".connection", t.connection]);
  return refs;
}
