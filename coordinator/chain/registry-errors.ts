/**
 * The registry's custom errors as fedproof errors, so callers branch on a class and a code instead
 * of parsing revert strings: an anchor worker retries `ChainUnavailableError`, treats
 * `RoundAlreadyAnchoredError` as done, and gives up on `RegistryPermissionError`.
 */
import {
  BaseError,
  ContractFunctionRevertedError,
  HttpRequestError,
  keccak256,
  SocketClosedError,
  TimeoutError,
  toBytes,
  WaitForTransactionReceiptTimeoutError,
  zeroHash,
} from "viem";
import { FedproofError, type FedproofErrorCode } from "../../common/errors.js";

interface RegistryErrorParameters {
  /** The contract's error name without its `FedproofRegistry__` prefix, when it reverted. */
  errorName?: string;
  args?: readonly unknown[];
  details?: string;
  cause?: unknown;
}

export class RegistryError extends FedproofError {
  override name = "RegistryError";
  readonly errorName: string | undefined;
  readonly args: readonly unknown[];

  constructor(
    shortMessage: string,
    code: FedproofErrorCode,
    parameters: RegistryErrorParameters = {},
  ) {
    super(shortMessage, { details: parameters.details, cause: parameters.cause, code });
    this.errorName = parameters.errorName;
    this.args = parameters.args ?? [];
  }
}

/** The sending key lacks the admin or coordinator role. */
export class RegistryPermissionError extends RegistryError {
  override name = "RegistryPermissionError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "PERMISSION_DENIED", parameters);
  }
}

export class UnknownJobError extends RegistryError {
  override name = "UnknownJobError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "NOT_FOUND", parameters);
  }
}

export class RoundAlreadyAnchoredError extends RegistryError {
  override name = "RoundAlreadyAnchoredError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "ALREADY_EXISTS", parameters);
  }
}

export class ModelAlreadyAnchoredError extends RegistryError {
  override name = "ModelAlreadyAnchoredError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "ALREADY_EXISTS", parameters);
  }
}

/** The previous round is not anchored yet (or the round number is 0). */
export class RoundOutOfOrderError extends RegistryError {
  override name = "RoundOutOfOrderError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "FAILED_PRECONDITION", parameters);
  }
}

/** The anchor names a parent other than the model the chain holds for the previous round. */
export class ParentMismatchError extends RegistryError {
  override name = "ParentMismatchError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "FAILED_PRECONDITION", parameters);
  }
}

export class CreditsAlreadyClaimedError extends RegistryError {
  override name = "CreditsAlreadyClaimedError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "ALREADY_EXISTS", parameters);
  }
}

export class InvalidCreditProofError extends RegistryError {
  override name = "InvalidCreditProofError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "INVALID_ARGUMENT", parameters);
  }
}

/**
 * A dispute named a contribution (or a proof of it) that the round did not anchor: the leaf is not
 * in the round's root, or the proof is not the chunk the leaf's proof hash commits to.
 */
export class ContributionNotAnchoredError extends RegistryError {
  override name = "ContributionNotAnchoredError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "INVALID_ARGUMENT", parameters);
  }
}

/** The round named (for a claim or a dispute) is not anchored. */
export class RoundNotAnchoredError extends RegistryError {
  override name = "RoundNotAnchoredError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "FAILED_PRECONDITION", parameters);
  }
}

/** Any other refusal by the contract (zero hash, last admin, …). */
export class RegistryRevertedError extends RegistryError {
  override name = "RegistryRevertedError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "FAILED_PRECONDITION", parameters);
  }
}

/** The RPC endpoint did not answer: transient, worth retrying. */
export class ChainUnavailableError extends RegistryError {
  override name = "ChainUnavailableError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "UNAVAILABLE", parameters);
  }
}

/**
 * The node no longer knows a transaction it accepted, and it was not mined: its pool lost it (a
 * restarted node, an eviction). Transient: the caller reads the chain again and sends anew, with
 * the same nonce, since the lost transaction never used it.
 */
export class TransactionDroppedError extends RegistryError {
  override name = "TransactionDroppedError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "UNAVAILABLE", parameters);
  }
}

/**
 * The contract says the round is anchored, but the anchor is not visible in the latest block yet
 * (another transaction for it is still pending): transient, a retry finds it mined.
 */
export class AnchorNotYetVisibleError extends RegistryError {
  override name = "AnchorNotYetVisibleError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "UNAVAILABLE", parameters);
  }
}

/** No anchored round produced this model, and no job starts from it. */
export class ModelNotAnchoredError extends RegistryError {
  override name = "ModelNotAnchoredError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "NOT_FOUND", parameters);
  }
}

/** What the chain returned does not fit together (storage vs events, broken links). */
export class AncestryMismatchError extends RegistryError {
  override name = "AncestryMismatchError";
  constructor(shortMessage: string, parameters: RegistryErrorParameters = {}) {
    super(shortMessage, "FAILED_PRECONDITION", parameters);
  }
}

const errorPrefix = "FedproofRegistry__";
const coordinatorRole = keccak256(toBytes("fedproof.role.coordinator"));
const defaultAdminRole = zeroHash;

/**
 * Maps a viem error into the matching fedproof error; anything else is returned unchanged, so
 * callers can `throw decodeRegistryError(error)`.
 */
export function decodeRegistryError(error: unknown): unknown {
  if (error instanceof FedproofError || !(error instanceof BaseError)) return error;

  const reverted = error.walk((inner) => inner instanceof ContractFunctionRevertedError);
  if (reverted instanceof ContractFunctionRevertedError) {
    const fullName = reverted.data?.errorName;
    if (fullName?.startsWith(errorPrefix)) {
      return fromCustomError(fullName.slice(errorPrefix.length), reverted.data?.args ?? [], error);
    }
    if (
      fullName === "AccessControlUnauthorizedAccount" ||
      fullName === "FedproofCredits__NotMinter"
    ) {
      return fromCustomError(fullName, reverted.data?.args ?? [], error);
    }
    return new RegistryRevertedError(`the registry refused the call: ${reverted.shortMessage}`, {
      errorName: fullName,
      cause: error,
    });
  }

  const unavailable = error.walk(
    (inner) =>
      inner instanceof HttpRequestError ||
      inner instanceof TimeoutError ||
      inner instanceof SocketClosedError ||
      inner instanceof WaitForTransactionReceiptTimeoutError,
  );
  if (unavailable) {
    return new ChainUnavailableError("the chain's RPC endpoint did not answer", {
      details: (unavailable as BaseError).shortMessage,
      cause: error,
    });
  }
  return error;
}

function fromCustomError(
  errorName: string,
  args: readonly unknown[],
  cause: unknown,
): RegistryError {
  const parameters = { errorName, args, cause };
  const [a, b, c, d] = args.map((arg) => String(arg));
  switch (errorName) {
    // OpenZeppelin AccessControl's error names the missing role: COORDINATOR_ROLE or the admin's.
    case "AccessControlUnauthorizedAccount":
      return new RegistryPermissionError(
        b === coordinatorRole
          ? `${a} does not hold the registry's coordinator role; an admin must grant it`
          : b === defaultAdminRole
            ? `${a} does not hold the registry's admin role`
            : `${a} does not hold role ${b} on the registry`,
        parameters,
      );
    case "FedproofCredits__NotMinter":
      return new RegistryPermissionError(
        `${a} may not mint fedproof credits: only the registry mints, on a claim`,
        parameters,
      );
    case "NotJobCoordinator":
      return new RegistryPermissionError(
        `${b} is not the coordinator that registered job ${a}`,
        parameters,
      );
    case "ContributionNotAnchored":
      return new ContributionNotAnchoredError(
        `the disputed contribution is not one that round ${b} of job ${a} anchored (its leaf is not in the round's root, or the proof is not one of its chunks)`,
        parameters,
      );
    case "ProofIndexOutOfRange":
      return new RegistryRevertedError(
        `proof index ${a} is out of range: the contribution has ${b} proofs`,
        parameters,
      );
    case "NoVerifier":
      return new RegistryRevertedError(
        `job ${a} registered no verifier for circuit ${b}`,
        parameters,
      );
    case "VerifiersLocked":
      return new RegistryRevertedError(
        `job ${a} has anchored rounds: its verifiers can no longer be registered`,
        parameters,
      );
    case "VerifierAlreadySet":
      return new RegistryRevertedError(
        `job ${a} already has a verifier for circuit ${b}`,
        parameters,
      );
    case "NotAContract":
      return new RegistryRevertedError(`verifier ${a} has no code`, parameters);
    case "LengthMismatch":
      return new RegistryRevertedError(
        "each circuit id hash needs exactly one verifier address",
        parameters,
      );
    case "InsufficientGas":
      return new RegistryRevertedError(
        `the dispute needs ${a} gas left before the verifier call, it had ${b}: send it with a higher gas limit`,
        parameters,
      );
    case "VerifierCallFailed":
      return new RegistryRevertedError(
        `verifier ${a} did not answer verifyProof with a verdict`,
        parameters,
      );
    case "UnknownJob":
      return new UnknownJobError(`job ${a} is not registered on the registry`, parameters);
    case "RoundAlreadyAnchored":
      return new RoundAlreadyAnchoredError(
        `round ${b} of job ${a} is already anchored`,
        parameters,
      );
    case "RoundOutOfOrder":
      return new RoundOutOfOrderError(
        b === "0"
          ? `round numbers start at 1 (job ${a})`
          : `round ${b} of job ${a} cannot be anchored before round ${Number(b) - 1}`,
        parameters,
      );
    case "ParentMismatch":
      return new ParentMismatchError(
        `round ${b} of job ${a} must build on model ${c}, but the anchor names parent ${d}`,
        parameters,
      );
    case "ModelAlreadyAnchored":
      return new ModelAlreadyAnchoredError(
        c === "0"
          ? `model ${a} is identical to its parent: the round changed nothing`
          : `model ${a} is already anchored as round ${c} of job ${b}`,
        parameters,
      );
    case "AlreadyClaimed":
      return new CreditsAlreadyClaimedError(
        `${c} already claimed its credits for round ${b} of job ${a}`,
        parameters,
      );
    case "InvalidCreditProof":
      return new InvalidCreditProofError(
        `the credits proof for ${c} does not match round ${b} of job ${a}`,
        parameters,
      );
    case "RoundNotAnchored":
      return new RoundNotAnchoredError(`round ${b} of job ${a} is not anchored`, parameters);
    case "CreditsExceedTotal":
      return new RegistryRevertedError(
        `claims for round ${b} of job ${a} would exceed the round's anchored total credits`,
        parameters,
      );
    case "ZeroHash":
      return new RegistryRevertedError("spec and model hashes must not be zero", parameters);
    case "ZeroAddress":
      return new RegistryRevertedError("the zero address cannot hold a role", parameters);
    case "LastAdmin":
      return new RegistryRevertedError(
        "the registry's last admin cannot give up the role",
        parameters,
      );
    default:
      return new RegistryRevertedError(`the registry reverted with ${errorName}`, parameters);
  }
}
