package dev.artimeta.client;

import com.google.protobuf.Any;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.rpc.ErrorInfo;
import dev.artimeta.v1.ErrorReason;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import java.util.Map;

/**
 * A failed call. {@link #reason()} is the server's ErrorInfo reason (stable, UPPER_SNAKE, e.g.
 * NAMESPACE_NOT_FOUND) and is what callers branch on; subclasses mirror the gRPC code.
 */
public class ArtimetaException extends RuntimeException {
  public static final String DOMAIN = "artimeta";

  private final Status.Code code;
  private final String reason;
  private final Map<String, String> metadata;

  public ArtimetaException(Status.Code code, String reason, String message, Map<String, String> metadata, Throwable cause) {
    super(reason + ": " + message, cause);
    this.code = code;
    this.reason = reason;
    this.metadata = Map.copyOf(metadata);
  }

  public Status.Code code() {
    return code;
  }

  public String reason() {
    return reason;
  }

  public Map<String, String> metadata() {
    return metadata;
  }

  /** {@link #reason()} as an {@link ErrorReason} (ERROR_REASON_ + the wire string); see {@link #parseReason}. */
  public ErrorReason typedReason() {
    return parseReason(reason);
  }

  /**
   * The ErrorReason of a wire reason string, or ERROR_REASON_UNSPECIFIED for one this client does not
   * know (such as UNIMPLEMENTED, which gRPC itself raises).
   */
  public static ErrorReason parseReason(String reason) {
    if (reason == null || reason.isEmpty()) {
      return ErrorReason.ERROR_REASON_UNSPECIFIED;
    }
    try {
      return ErrorReason.valueOf("ERROR_REASON_" + reason);
    } catch (IllegalArgumentException unknown) {
      return ErrorReason.ERROR_REASON_UNSPECIFIED;
    }
  }

  /** The typed exception for a failed gRPC call; other throwables are wrapped as UNKNOWN. */
  public static ArtimetaException from(Throwable t) {
    if (t instanceof ArtimetaException e) {
      return e;
    }
    Status status = Status.fromThrowable(t);
    String reason = status.getCode().name();
    Map<String, String> metadata = Map.of();
    com.google.rpc.Status details = StatusProto.fromThrowable(t);
    if (details != null) {
      boolean found = false;
      for (Any any : details.getDetailsList()) {
        if (!any.is(ErrorInfo.class)) {
          continue;
        }
        try {
          ErrorInfo info = any.unpack(ErrorInfo.class);
          if (!found || DOMAIN.equals(info.getDomain())) {
            reason = info.getReason();
            metadata = info.getMetadataMap();
            found = true;
          }
        } catch (InvalidProtocolBufferException ignored) {
          // A malformed detail leaves the code's name as the reason.
        }
      }
    }
    String message = status.getDescription() == null ? status.getCode().name() : status.getDescription();
    return switch (status.getCode()) {
      case INVALID_ARGUMENT -> new InvalidArgument(reason, message, metadata, t);
      case NOT_FOUND -> new NotFound(reason, message, metadata, t);
      case ALREADY_EXISTS -> new AlreadyExists(reason, message, metadata, t);
      case ABORTED -> new Aborted(reason, message, metadata, t);
      case FAILED_PRECONDITION -> new FailedPrecondition(reason, message, metadata, t);
      case UNAVAILABLE -> new Unavailable(reason, message, metadata, t);
      case DEADLINE_EXCEEDED -> new DeadlineExceeded(reason, message, metadata, t);
      case DATA_LOSS -> new DataLoss(reason, message, metadata, t);
      case UNAUTHENTICATED -> new Unauthenticated(reason, message, metadata, t);
      case PERMISSION_DENIED -> new PermissionDenied(reason, message, metadata, t);
      default -> new ArtimetaException(status.getCode(), reason, message, metadata, t);
    };
  }

  public static final class InvalidArgument extends ArtimetaException {
    InvalidArgument(String r, String m, Map<String, String> md, Throwable c) {
      super(Status.Code.INVALID_ARGUMENT, r, m, md, c);
    }
  }

  public static final class NotFound extends ArtimetaException {
    NotFound(String r, String m, Map<String, String> md, Throwable c) {
      super(Status.Code.NOT_FOUND, r, m, md, c);
    }
  }

  public static final class AlreadyExists extends ArtimetaException {
    AlreadyExists(String r, String m, Map<String, String> md, Throwable c) {
      super(Status.Code.ALREADY_EXISTS, r, m, md, c);
    }
  }

  public static final class Aborted extends ArtimetaException {
    Aborted(String r, String m, Map<String, String> md, Throwable c) {
      super(Status.Code.ABORTED, r, m, md, c);
    }
  }

  public static final class FailedPrecondition extends ArtimetaException {
    FailedPrecondition(String r, String m, Map<String, String> md, Throwable c) {
      super(Status.Code.FAILED_PRECONDITION, r, m, md, c);
    }
  }

  public static final class Unavailable extends ArtimetaException {
    Unavailable(String r, String m, Map<String, String> md, Throwable c) {
      super(Status.Code.UNAVAILABLE, r, m, md, c);
    }
  }

  public static final class DeadlineExceeded extends ArtimetaException {
    DeadlineExceeded(String r, String m, Map<String, String> md, Throwable c) {
      super(Status.Code.DEADLINE_EXCEEDED, r, m, md, c);
    }
  }

  public static final class DataLoss extends ArtimetaException {
    DataLoss(String r, String m, Map<String, String> md, Throwable c) {
      super(Status.Code.DATA_LOSS, r, m, md, c);
    }
  }

  public static final class Unauthenticated extends ArtimetaException {
    Unauthenticated(String r, String m, Map<String, String> md, Throwable c) {
      super(Status.Code.UNAUTHENTICATED, r, m, md, c);
    }
  }

  public static final class PermissionDenied extends ArtimetaException {
    PermissionDenied(String r, String m, Map<String, String> md, Throwable c) {
      super(Status.Code.PERMISSION_DENIED, r, m, md, c);
    }
  }
}
