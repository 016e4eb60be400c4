package artimeta_test

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/artimeta/artimeta/client/go/artimeta"
	artimetav1 "github.com/artimeta/artimeta/client/go/artimeta/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// ARTIMETA_TEST_TLS_DIR holds a self-signed cert.pem + key.pem for 127.0.0.1 (made by the harness).
func TestTLSWithRootCAsAndToken(t *testing.T) {
	dir := os.Getenv("ARTIMETA_TEST_TLS_DIR")
	if dir == "" {
		t.Skip("ARTIMETA_TEST_TLS_DIR is not set")
	}
	creds, err := credentials.NewServerTLSFromFile(filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(creds))
	artimetav1.RegisterNamespaceServiceServer(srv, &flaky{})
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	pem, err := os.ReadFile(filepath.Join(dir, "cert.pem"))
	if err != nil {
		t.Fatal(err)
	}

	c, _ := artimeta.New(lis.Addr().String(), artimeta.WithRootCAs(pem), artimeta.WithToken("over-tls"))
	defer c.Close()
	ns, err := c.GetNamespace(context.Background(), "demo")
	if err != nil {
		t.Fatal(err)
	}
	if ns.GetDescription() != "Bearer over-tls" {
		t.Fatalf("authorization seen by the server: %q", ns.GetDescription())
	}

	// Without the roots the server's certificate is not trusted.
	untrusting, _ := artimeta.New(lis.Addr().String(), artimeta.WithRootCAs(nil), artimeta.WithRetry(nil))
	defer untrusting.Close()
	_, err = untrusting.GetNamespace(context.Background(), "demo")
	wantReason(t, err, artimeta.ErrUnavailable, "UNAVAILABLE")
}
