package artimeta

import (
	"errors"
	"fmt"

	artimetav1 "github.com/artimeta/artimeta/client/go/artimeta/v1"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Domain is the ErrorInfo domain of every error the artimeta server returns.
const Domain = "artimeta"

// Error is a failed call. Reason is the server's ErrorInfo reason (stable, UPPER_SNAKE, e.g.
// NAMESPACE_NOT_FOUND) and is what callers branch on; Message is for people.
type Error struct {
	Code     codes.Code
	Reason   string
	Message  string
	Metadata map[string]string
	status   *status.Status
}

func (e *Error) Error() string {
	return fmt.Sprintf("artimeta: %s (%s): %s", e.Reason, e.Code, e.Message)
}

// GRPCStatus keeps status.FromError and status.Code working on wrapped errors.
func (e *Error) GRPCStatus() *status.Status { return e.status }

// Is makes errors.Is(err, artimeta.ErrNotFound) and friends match on the gRPC code.
func (e *Error) Is(target error) bool {
	var c codeError
	if errors.As(target, &c) {
		return e.Code == codes.Code(c)
	}
	return false
}

type codeError codes.Code

func (c codeError) Error() string { return codes.Code(c).String() }

// Sentinels for errors.Is; the typed *Error carries the reason.
var (
	ErrInvalidArgument    error = codeError(codes.InvalidArgument)
	ErrNotFound           error = codeError(codes.NotFound)
	ErrAlreadyExists      error = codeError(codes.AlreadyExists)
	ErrAborted            error = codeError(codes.Aborted)
	ErrFailedPrecondition error = codeError(codes.FailedPrecondition)
	ErrUnavailable        error = codeError(codes.Unavailable)
	ErrDataLoss           error = codeError(codes.DataLoss)
	ErrUnauthenticated    error = codeError(codes.Unauthenticated)
	ErrPermissionDenied   error = codeError(codes.PermissionDenied)
	ErrDeadlineExceeded   error = codeError(codes.DeadlineExceeded)
)

// Reason returns the server's ErrorInfo reason of err, or "" when err is not an artimeta error.
func Reason(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

// TypedReason returns the reason of err as an artimetav1.ErrorReason (ERROR_REASON_ + the wire
// string), or ERROR_REASON_UNSPECIFIED when err is not an artimeta error or carries a reason this
// client does not know (such as UNIMPLEMENTED, which gRPC itself raises).
func TypedReason(err error) artimetav1.ErrorReason {
	return ParseReason(Reason(err))
}

// ParseReason maps a wire reason string to its artimetav1.ErrorReason value.
func ParseReason(reason string) artimetav1.ErrorReason {
	if v, ok := artimetav1.ErrorReason_value["ERROR_REASON_"+reason]; ok && reason != "" {
		return artimetav1.ErrorReason(v)
	}
	return artimetav1.ErrorReason_ERROR_REASON_UNSPECIFIED
}

// fromError turns a gRPC status error into *Error; other errors pass through unchanged.
func fromError(err error) error {
	if err == nil {
		return nil
	}
	var already *Error
	if errors.As(err, &already) {
		return err
	}
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	e := &Error{Code: st.Code(), Message: st.Message(), status: st, Metadata: map[string]string{}}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && (info.GetDomain() == Domain || e.Reason == "") {
			e.Reason = info.GetReason()
			for k, v := range info.GetMetadata() {
				e.Metadata[k] = v
			}
		}
	}
	if e.Reason == "" {
		// Errors raised by gRPC itself (deadline, message too large) carry no ErrorInfo.
		e.Reason = codeName(st.Code())
	}
	return e
}

func codeName(c codes.Code) string {
	names := map[codes.Code]string{
		codes.Canceled: "CANCELLED", codes.Unknown: "UNKNOWN", codes.InvalidArgument: "INVALID_ARGUMENT",
		codes.DeadlineExceeded: "DEADLINE_EXCEEDED", codes.NotFound: "NOT_FOUND", codes.AlreadyExists: "ALREADY_EXISTS",
		codes.PermissionDenied: "PERMISSION_DENIED", codes.ResourceExhausted: "RESOURCE_EXHAUSTED",
		codes.FailedPrecondition: "FAILED_PRECONDITION", codes.Aborted: "ABORTED", codes.OutOfRange: "OUT_OF_RANGE",
		codes.Unimplemented: "UNIMPLEMENTED", codes.Internal: "INTERNAL", codes.Unavailable: "UNAVAILABLE",
		codes.DataLoss: "DATA_LOSS", codes.Unauthenticated: "UNAUTHENTICATED",
	}
	if n, ok := names[c]; ok {
		return n
	}
	return c.String()
}
