import type { Command } from "commander";
import type { CommandRuntime } from "./io.js";

/** `init`: create the repository (idempotent) and print where it is. */
export function registerInit(program: Command, runtime: () => CommandRuntime): void {
  program
    .command("init")
    .description("create the repository (idempotent) and print where it is")
    .action(async () => {
      const rt = runtime();
      const { config } = await rt.loadConfig();
      const { initRepository } = await import("../repo/open.js");
      const { repo, created } = await initRepository(config.repository);
      // archive_command runs as the server's user: its WAL folder must be writable by it from the start.
      const { prepareWalArchives } = await import("../engines/postgres-physical/wal-directory.js");
      const walDirs = await prepareWalArchives(config);
      if (rt.options.json) {
        rt.printJson({
          location: repo.backend.location,
          id: repo.header.id,
          created,
          formatVersion: repo.header.version,
          walArchives: walDirs,
        });
      } else {
        rt.print(
          `${created ? "created" : "already initialized"}: repository ${repo.header.id} at ${repo.backend.location}`,
        );
        for (const dir of walDirs) rt.print(`WAL archive ready for archive_command: ${dir}`);
      }
    });
}
