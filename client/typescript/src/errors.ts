// Typed errors built from the server's google.rpc.Status / ErrorInfo, so callers branch on a class
// or a reason instead of parsing messages.
import { Metadata, status as Status, type ServiceError } from "@grpc/grpc-js";
import { ErrorReason } from "./gen/artimeta/v1/error_reason";
import { ErrorInfo } from "./gen/google/rpc/error_details";
import { Status as RpcStatus } from "./gen/google/rpc/status";

export const DOMAIN = "artimeta";
const DETAILS_KEY = "grpc-status-details-bin";
const ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo";

/** A failed call. `reason` is ErrorInfo.reason (stable, machine-readable), `code` the gRPC code. */
export class ArtimetaError extends Error {
  constructor(
    readonly code: Status,
    readonly reason: string,
    readonly details: string,
    readonly metadata: Record<string, string> = {},
  ) {
    super(`${reason}: ${details}`);
    this.name = new.target.name;
  }

  /** `reason` as a v1.ErrorReason (ERROR_REASON_ + the wire string); see parseReason. */
  get typedReason(): ErrorReason {
    return parseReason(this.reason);
  }
}

/**
 * The v1.ErrorReason of a wire reason string, or ERROR_REASON_UNSPECIFIED for one this client does
 * not know (such as UNIMPLEMENTED, which gRPC itself raises).
 */
export function parseReason(reason: string): ErrorReason {
  const value = reason ? (ErrorReason as Record<string, unknown>)[`ERROR_REASON_${reason}`] : undefined;
  return typeof value === "number" ? (value as ErrorReason) : ErrorReason.ERROR_REASON_UNSPECIFIED;
}

export class InvalidArgumentError extends ArtimetaError {}
export class NotFoundError extends ArtimetaError {}
export class AlreadyExistsError extends ArtimetaError {}
export class AbortedError extends ArtimetaError {}
export class FailedPreconditionError extends ArtimetaError {}
export class UnavailableError extends ArtimetaError {}
export class DeadlineExceededError extends ArtimetaError {}
export class DataLossError extends ArtimetaError {}
export class UnauthenticatedError extends ArtimetaError {}
export class PermissionDeniedError extends ArtimetaError {}

const BY_CODE: Partial<Record<Status, typeof ArtimetaError>> = {
  [Status.INVALID_ARGUMENT]: InvalidArgumentError,
  [Status.NOT_FOUND]: NotFoundError,
  [Status.ALREADY_EXISTS]: AlreadyExistsError,
  [Status.ABORTED]: AbortedError,
  [Status.FAILED_PRECONDITION]: FailedPreconditionError,
  [Status.UNAVAILABLE]: UnavailableError,
  [Status.DEADLINE_EXCEEDED]: DeadlineExceededError,
  [Status.DATA_LOSS]: DataLossError,
  [Status.UNAUTHENTICATED]: UnauthenticatedError,
  [Status.PERMISSION_DENIED]: PermissionDeniedError,
};

function errorInfo(metadata: Metadata | undefined): ErrorInfo | undefined {
  const raw = metadata?.get(DETAILS_KEY)[0];
  if (!(raw instanceof Buffer)) return undefined;
  let found: ErrorInfo | undefined;
  for (const detail of RpcStatus.decode(raw).details) {
    if (detail.typeUrl !== ERROR_INFO_TYPE) continue;
    const info = ErrorInfo.decode(detail.value);
    if (info.domain === DOMAIN || found === undefined) found = info;
  }
  return found;
}

/** The typed error for a failed call; errors that are not gRPC errors pass through. */
export function toArtimetaError(err: unknown): unknown {
  if (err instanceof ArtimetaError) return err;
  const e = err as Partial<ServiceError>;
  if (!(err instanceof Error) || typeof e.code !== "number") return err;
  const info = errorInfo(e.metadata);
  const reason = info?.reason || Status[e.code];
  const cls = BY_CODE[e.code as Status] ?? ArtimetaError;
  return new cls(e.code as Status, reason, e.details ?? e.message ?? "", info?.metadata ?? {});
}
