import { execa } from "execa";
import type { BenchContext } from "./section.js";

/**
 * Makes a third-party tool the issues compare against (restic 0.14, pgBackRest 2.45, both
 * Debian packages) available: found on PATH, else installed with apt-get when this runs
 * as root with apt-get present. Returns its version line, or undefined (the caller then
 * notes it as not measured) — a comparison is never faked.
 */
export async function comparisonTool(
  context: BenchContext,
  command: string,
  debianPackage: string,
  versionArgs: string[] = ["version"],
): Promise<string | undefined> {
  const version = async (): Promise<string | undefined> => {
    const r = await execa(command, versionArgs, { reject: false });
    return r.exitCode === 0 ? r.stdout.trim().split("\n")[0] : undefined;
  };
  const found = await version().catch(() => undefined);
  if (found || process.getuid?.() !== 0) return found;
  context.log(`${command} is not installed: apt-get install ${debianPackage} (for comparison only) …`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const apt = async (args: string[]) => execa("apt-get", args, { env, reject: false });
  let installed = await apt(["install", "-y", "-qq", "--no-install-recommends", debianPackage]);
  if (installed.exitCode !== 0) {
    await apt(["update", "-qq"]);
    installed = await apt(["install", "-y", "-qq", "--no-install-recommends", debianPackage]);
  }
  if (installed.exitCode !== 0) {
    context.log(`could not install ${debianPackage}: ${installed.stderr.trim().split("\n").at(-1) ?? ""}`);
    return undefined;
  }
  return version().catch(() => undefined);
}
