import type { Command } from "commander";
import { releaseAllLocks } from "../repo/lock.js";
import type { CommandRuntime } from "./io.js";

const STOP_SIGNALS = ["SIGTERM", "SIGINT"] as const;

/** `daemon [--listen HOST:PORT]`: run the schedules; serve /metrics, /healthz and the status page. */
export function registerDaemon(program: Command, runtime: () => CommandRuntime): void {
  program
    .command("daemon")
    .description("run every schedule; serve /metrics, /healthz and the status page (default 127.0.0.1:9377)")
    .option("--listen <host:port>", "address of the HTTP server (default: daemon.listen, 127.0.0.1:9377)")
    .action(async (flags: { listen?: string }) => {
      const rt = runtime();
      const { config } = await rt.loadConfig();
      // prom-client, croner and the HTTP server load only for this command.
      const { Daemon } = await import("../daemon/daemon.js");
      const daemon = new Daemon({
        ctx: rt.opContext(config),
        ...(flags.listen ? { listen: flags.listen } : {}),
      });
      // main.ts exits at once on these signals (right for one-shot commands); the daemon drains instead.
      for (const signal of STOP_SIGNALS) for (const l of process.listeners(signal)) process.off(signal, l);
      let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
      const stopped = new Promise<boolean>((resolve) => {
        onSignal = (signal) => {
          if (daemon.state === "draining") {
            rt.logger.warn(`${signal} again: not waiting for running jobs`);
            return resolve(false);
          }
          rt.logger.info(
            `${signal}: draining (no new jobs; running ones may take ${config.daemon.gracePeriodSeconds}s)`,
          );
          void daemon.stop().then(resolve);
        };
      });
      for (const signal of STOP_SIGNALS) process.on(signal, onSignal!);
      // Log lines are appended with a fresh open each time, so a rotated file is picked up at
      // once; SIGHUP (logrotate's postrotate) must only not kill the daemon.
      const onHup = (): void => rt.logger.info("SIGHUP: log file reopened", { event: "LogReopened" });
      process.on("SIGHUP", onHup);
      try {
        await daemon.start();
        const drained = await stopped;
        if (!drained) {
          await releaseAllLocks();
          rt.io.stderr("error: the daemon stopped before its running jobs finished (grace period over)\n");
          // Jobs cannot be cancelled from outside yet; only leaving the process stops them.
          process.exit(1);
        }
      } finally {
        for (const signal of STOP_SIGNALS) process.off(signal, onSignal!);
        process.off("SIGHUP", onHup);
      }
    });
}
