/**
 * Counts what devices do at the coordinator's door, from a server interceptor, so the service
 * handlers stay free of metrics: Joins by result, update uploads and their refusals, open task
 * streams. A refusal's reason is the `fedproof-error` trailer the one status mapping
 * (grpc/status.ts) sets, else the status code's name.
 */
import * as grpc from "@grpc/grpc-js";
import { type FedproofMetrics, reasonLabel } from "./metrics.js";

const SERVICE = "/fedproof.v1.Coordinator/";
const UPLOAD_METHODS = new Set([`${SERVICE}SubmitUpdate`, `${SERVICE}CommitUpload`]);

export function createMetricsInterceptor(metrics: FedproofMetrics): grpc.ServerInterceptor {
  return (method, call) => {
    const observer = observerFor(method.path, metrics);
    if (!observer) return new grpc.ServerInterceptingCall(call);
    let ended = false;
    // A call ends once: with the status it is answered with, or cancelled by its peer first.
    const end = (code: grpc.status, errorName?: string) => {
      if (ended) return;
      ended = true;
      observer.end(code, errorName);
    };
    return new grpc.ServerInterceptingCall(call, {
      start(next) {
        observer.start?.();
        next({ onCancel: () => end(grpc.status.CANCELLED) });
      },
      sendStatus(status, next) {
        const trailer = status.metadata?.get("fedproof-error")[0];
        end(status.code, typeof trailer === "string" ? trailer : undefined);
        next(status);
      },
    });
  };
}

interface CallObserver {
  start?(): void;
  end(code: grpc.status, errorName?: string): void;
}

function observerFor(path: string, metrics: FedproofMetrics): CallObserver | undefined {
  const refusal = (code: grpc.status, errorName?: string) =>
    reasonLabel(errorName ?? grpc.status[code]);
  if (path === `${SERVICE}Join`) {
    return {
      end: (code, errorName) =>
        metrics.joins.inc({ result: code === grpc.status.OK ? "ok" : refusal(code, errorName) }),
    };
  }
  if (UPLOAD_METHODS.has(path)) {
    return {
      end(code, errorName) {
        metrics.updatesReceived.inc();
        // A peer that hung up was not refused.
        if (code !== grpc.status.OK && code !== grpc.status.CANCELLED) {
          metrics.updatesRejected.inc({ stage: "upload", reason: refusal(code, errorName) });
        }
      },
    };
  }
  if (path === `${SERVICE}Tasks`) {
    return { start: () => metrics.devicesOnline.inc(), end: () => metrics.devicesOnline.dec() };
  }
  return undefined;
}
