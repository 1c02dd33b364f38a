import path from "node:path";
import { runCommand } from "../../util/subprocess.js";

/** A tool's major version from `tool --version`, or why it could not be run. */
export async function toolMajor(
  name: string,
  options: { binDir?: string | undefined; exec?: readonly string[] | undefined },
): Promise<{ major: number; version: string } | { error: string }> {
  const tool = options.binDir ? path.join(options.binDir, name) : name;
  const argv = [...(options.exec ?? []), tool, "--version"];
  try {
    const r = await runCommand(argv, { timeoutMs: 10_000 });
    const m = /(\d+)(?:\.(\d+))?/.exec(r.stdout);
    if (r.exitCode !== 0 || !m) return { error: `${argv.join(" ")} failed (exit ${r.exitCode ?? r.signal})` };
    return { major: Number(m[1]), version: m[0] };
  } catch (err) {
    return { error: (err as Error).message };
  }
}
