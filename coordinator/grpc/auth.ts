import { timingSafeEqual } from "node:crypto";
import type { Metadata } from "@grpc/grpc-js";
import { UnauthenticatedError } from "../errors.js";

/** Checks `authorization: Bearer <token>` against the operator's token, in constant time. */
export function requireBearer(metadata: Metadata, token: string): void {
  const header = metadata.get("authorization")[0];
  if (typeof header !== "string" || !header.startsWith("Bearer ")) {
    throw new UnauthenticatedError(
      "missing bearer token: send `authorization: Bearer <token>` (fedproof --token)",
    );
  }
  const given = Buffer.from(header.slice("Bearer ".length));
  const expected = Buffer.from(token);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new UnauthenticatedError("bearer token is not valid for this coordinator");
  }
}
