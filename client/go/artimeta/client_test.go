package artimeta_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"

	"github.com/artimeta/artimeta/client/go/artimeta"
	artimetav1 "github.com/artimeta/artimeta/client/go/artimeta/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// flaky answers UNAVAILABLE to the first calls, then echoes the caller's authorization header.
type flaky struct {
	artimetav1.UnimplementedNamespaceServiceServer
	calls   atomic.Int32
	failFor int32
}

func (f *flaky) GetNamespace(ctx context.Context, req *artimetav1.GetNamespaceRequest) (*artimetav1.GetNamespaceResponse, error) {
	if f.calls.Add(1) <= f.failFor {
		return nil, status.Error(codes.Unavailable, "warming up")
	}
	if req.GetName() == "missing" {
		st, _ := status.New(codes.NotFound, "no such namespace").WithDetails(
			&errdetails.ErrorInfo{Reason: "NAMESPACE_NOT_FOUND", Domain: "artimeta", Metadata: map[string]string{"namespace": "missing"}})
		return nil, st.Err()
	}
	md, _ := metadata.FromIncomingContext(ctx)
	return &artimetav1.GetNamespaceResponse{Namespace: &artimetav1.Namespace{Name: req.GetName(), Description: firstOf(md.Get("authorization"))}}, nil
}

func firstOf(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func serve(t *testing.T, impl artimetav1.NamespaceServiceServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	artimetav1.RegisterNamespaceServiceServer(srv, impl)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

func TestRetriesUnavailableAndSendsToken(t *testing.T) {
	f := &flaky{failFor: 2}
	c, err := artimeta.New(serve(t, f), artimeta.WithToken("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ns, err := c.GetNamespace(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	if ns.GetDescription() != "Bearer s3cret" {
		t.Fatalf("authorization seen by the server: %q", ns.GetDescription())
	}
	if got := f.calls.Load(); got != 3 {
		t.Fatalf("want 3 attempts (2 retried), got %d", got)
	}
}

func TestNoRetryWhenDisabled(t *testing.T) {
	f := &flaky{failFor: 1}
	c, _ := artimeta.New(serve(t, f), artimeta.WithRetry(nil))
	defer c.Close()
	_, err := c.GetNamespace(context.Background(), "demo")
	wantReason(t, err, artimeta.ErrUnavailable, "UNAVAILABLE")
}

func TestErrorInfoBecomesTypedError(t *testing.T) {
	c, _ := artimeta.New(serve(t, &flaky{}))
	defer c.Close()
	_, err := c.GetNamespace(context.Background(), "missing")
	wantReason(t, err, artimeta.ErrNotFound, "NAMESPACE_NOT_FOUND")
	var e *artimeta.Error
	if !asError(err, &e) || e.Metadata["namespace"] != "missing" || status.Code(err) != codes.NotFound {
		t.Fatalf("metadata or status lost: %#v", err)
	}
}
