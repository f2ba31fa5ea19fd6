import type * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";

/** The services a coordinator reports on, besides "" (the server as a whole). */
export const FEDPROOF_SERVICES = [
  "fedproof.v1.Coordinator",
  "fedproof.v1.Jobs",
  "fedproof.v1.Provenance",
] as const;

export interface HealthReporter {
  serving(): void;
  /** Said first when shutdown begins, so load balancers stop sending before streams end. */
  notServing(): void;
}

/**
 * The standard gRPC health service (grpc.health.v1.Health: Check, Watch, List), as probes
 * (grpc_health_probe, Kubernetes gRPC probes, Envoy) expect it. Starts NOT_SERVING: the
 * coordinator says SERVING once its engine and workers are up.
 */
export function addHealthService(server: grpc.Server): HealthReporter {
  const names = ["", ...FEDPROOF_SERVICES];
  const health = new HealthImplementation(
    Object.fromEntries(names.map((name) => [name, "NOT_SERVING" as const])),
  );
  health.addToServer(server);
  const set = (status: "SERVING" | "NOT_SERVING") => {
    for (const name of names) health.setStatus(name, status);
  };
  return { serving: () => set("SERVING"), notServing: () => set("NOT_SERVING") };
}
