package artimeta

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	artimetav1 "github.com/artimeta/artimeta/client/go/artimeta/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Retry classes, as the proto's artimeta.v1.retry method option names them.
const (
	RetryRead       = "READ"
	RetryIdempotent = "IDEMPOTENT"
	RetryRequestID  = "REQUEST_ID"
	RetryNone       = "NONE"
)

const requestIDField = "request_id"

var retryTable = loadRetryClasses()

// loadRetryClasses reads every artimeta.v1 RPC's retry class from the registered descriptors.
func loadRetryClasses() map[string]string {
	table := map[string]string{}
	protoregistry.GlobalFiles.RangeFilesByPackage("artimeta.v1", func(fd protoreflect.FileDescriptor) bool {
		services := fd.Services()
		for i := 0; i < services.Len(); i++ {
			svc := services.Get(i)
			methods := svc.Methods()
			for j := 0; j < methods.Len(); j++ {
				m := methods.Get(j)
				cls := proto.GetExtension(m.Options(), artimetav1.E_Retry).(artimetav1.RetryClass)
				table[fmt.Sprintf("/%s/%s", svc.FullName(), m.Name())] = strings.TrimPrefix(cls.String(), "RETRY_CLASS_")
			}
		}
		return true
	})
	return table
}

// RetryClasses maps "/artimeta.v1.Service/Method" to READ, IDEMPOTENT, REQUEST_ID or NONE for
// every RPC: reads and idempotent writes are retried on UNAVAILABLE, a mutation with a
// request_id is retried with the same id (filled in once per call), the rest is not retried.
func RetryClasses() map[string]string {
	out := make(map[string]string, len(retryTable))
	for k, v := range retryTable {
		out[k] = v
	}
	return out
}

func (r RetryPolicy) serviceConfig() string {
	var names []map[string]string
	for path, cls := range retryTable {
		if cls == RetryRead || cls == RetryIdempotent || cls == RetryRequestID {
			service, method, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
			names = append(names, map[string]string{"service": service, "method": method})
		}
	}
	sort.Slice(names, func(i, j int) bool {
		return names[i]["service"]+"/"+names[i]["method"] < names[j]["service"]+"/"+names[j]["method"]
	})
	config := map[string]any{"methodConfig": []any{map[string]any{
		"name": names,
		"retryPolicy": map[string]any{
			"maxAttempts":          r.MaxAttempts,
			"initialBackoff":       fmt.Sprintf("%.3fs", r.InitialBackoff.Seconds()),
			"maxBackoff":           fmt.Sprintf("%.3fs", r.MaxBackoff.Seconds()),
			"backoffMultiplier":    r.BackoffMultiplier,
			"retryableStatusCodes": []string{"UNAVAILABLE"},
		},
	}}}
	out, err := json.Marshal(config)
	if err != nil {
		panic(err) // plain maps and strings always marshal
	}
	return string(out)
}

func newRequestID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40 // version 4
	b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// withRequestID returns req with a fresh request_id when method takes one and req has none;
// gRPC's retries then resend the same id.
func withRequestID(method string, req any) any {
	if retryTable[method] != RetryRequestID {
		return req
	}
	msg, ok := req.(proto.Message)
	if !ok {
		return req
	}
	fd := msg.ProtoReflect().Descriptor().Fields().ByName(requestIDField)
	if fd == nil || msg.ProtoReflect().Get(fd).String() != "" {
		return req
	}
	filled := proto.Clone(msg)
	filled.ProtoReflect().Set(fd, protoreflect.ValueOfString(newRequestID()))
	return filled
}

func requestIDInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(ctx, method, withRequestID(method, req), reply, cc, opts...)
	}
}
