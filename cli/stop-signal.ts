/**
 * How a long-running CLI process (coordinator, worker, chain serve) hears that it should stop.
 *
 * Call it before starting anything: from then on a SIGTERM or SIGINT never takes the default
 * action (death by signal, nothing flushed or closed), even one sent the instant the process
 * prints that it is ready. When the ready document came before the listeners, a supervisor that
 * signalled on its first byte killed the process by signal.
 */
import type { Logger } from "pino";

export interface StopSignalOptions {
  /** Logged at the first signal. */
  message: string;
  logger?: Logger;
  /** From the first signal, the process exits 1 after this long whatever is still running. */
  limitMs: number;
}

/**
 * Resolves with the first SIGTERM or SIGINT. The listeners stay installed, so a repeated signal
 * during shutdown is ignored instead of killing the process midway.
 */
export function firstStopSignal(options: StopSignalOptions): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let stopping = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      options.logger?.info({ signal }, options.message);
      setTimeout(() => {
        const message = `shutdown took longer than ${options.limitMs / 1000} s; exiting without waiting further`;
        if (options.logger) options.logger.error(message);
        else process.stderr.write(`${message}\n`);
        process.exit(1);
      }, options.limitMs).unref();
      resolve(signal);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
}
