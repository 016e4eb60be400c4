package artimeta_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"testing"
	"time"

	"github.com/artimeta/artimeta/client/go/artimeta"
	artimetav1 "github.com/artimeta/artimeta/client/go/artimeta/v1"
)

// The values every language writes and expects (tests/clients/conformance.py holds the same).
const conformanceDescription = "conformance: héllo ✓ 𝄞 \"quoted\"\ttab"

func conformanceLabels(writer string) map[string]string {
	return map[string]string{"team": "data-eng", "unicode": "ünï-ß", "writer": writer}
}

// liveClient connects to the server the test harness started (ARTIMETA_TARGET).
func liveClient(t *testing.T, opts ...artimeta.Option) *artimeta.Client {
	t.Helper()
	target := os.Getenv("ARTIMETA_TARGET")
	if target == "" {
		t.Skip("ARTIMETA_TARGET is not set: the conformance tests need a live server")
	}
	c, err := artimeta.New(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func wantReason(t *testing.T, err error, sentinel error, reason string) {
	t.Helper()
	if !errors.Is(err, sentinel) {
		t.Fatalf("want %v, got %v", sentinel, err)
	}
	if got := artimeta.Reason(err); got != reason {
		t.Fatalf("want reason %s, got %s (%v)", reason, got, err)
	}
}

func TestReadsWhatPythonWrote(t *testing.T) {
	c := liveClient(t)
	name := os.Getenv("ARTIMETA_PY_NAMESPACE")
	if name == "" {
		t.Skip("ARTIMETA_PY_NAMESPACE is not set")
	}
	ns, err := c.GetNamespace(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	if ns.GetDescription() != conformanceDescription {
		t.Fatalf("description %q", ns.GetDescription())
	}
	if !maps.Equal(ns.GetLabels(), conformanceLabels("python")) {
		t.Fatalf("labels %v", ns.GetLabels())
	}
	if ns.GetCreateTime().AsTime().IsZero() {
		t.Fatal("no create_time")
	}
}

func TestNamespaceLifecycle(t *testing.T) {
	c := liveClient(t)
	ctx := context.Background()
	prefix := os.Getenv("ARTIMETA_WRITE_PREFIX")
	if prefix == "" {
		prefix = "go-" + time.Now().Format("150405.000000")
	}
	// Left in place for Python to read back; the harness deletes it.
	if _, err := c.CreateNamespace(ctx, prefix, artimeta.NamespaceSpec{Description: conformanceDescription, Labels: conformanceLabels("go")}); err != nil {
		t.Fatal(err)
	}
	_, err := c.CreateNamespace(ctx, prefix, artimeta.NamespaceSpec{})
	wantReason(t, err, artimeta.ErrAlreadyExists, "NAMESPACE_EXISTS")

	_, err = c.GetNamespace(ctx, prefix+"-missing")
	wantReason(t, err, artimeta.ErrNotFound, "NAMESPACE_NOT_FOUND")
	// The wire reason parses to the generated ErrorReason value.
	if got := artimeta.TypedReason(err); got != artimetav1.ErrorReason_ERROR_REASON_NAMESPACE_NOT_FOUND {
		t.Fatalf("want typed reason ERROR_REASON_NAMESPACE_NOT_FOUND, got %v", got)
	}
	var typed *artimeta.Error
	if !errors.As(err, &typed) || typed.Message == "" {
		t.Fatalf("want *artimeta.Error with a message, got %#v", err)
	}

	_, err = c.CreateNamespace(ctx, "", artimeta.NamespaceSpec{})
	wantReason(t, err, artimeta.ErrInvalidArgument, "INVALID_NAME")

	// Pages of 2 through every namespace: ours come back complete and in name order.
	names := []string{prefix + "-p0", prefix + "-p1", prefix + "-p2", prefix + "-p3", prefix + "-p4"}
	for _, n := range names {
		if _, err := c.CreateNamespace(ctx, n, artimeta.NamespaceSpec{}); err != nil {
			t.Fatal(err)
		}
	}
	var seen []string
	for ns, err := range c.ListNamespaces(ctx, 2) {
		if err != nil {
			t.Fatal(err)
		}
		if len(ns.GetName()) > len(prefix)+1 && ns.GetName()[:len(prefix)+2] == prefix+"-p" {
			seen = append(seen, ns.GetName())
		}
	}
	if len(seen) != len(names) {
		t.Fatalf("listed %v, want %v", seen, names)
	}
	for i := range names {
		if seen[i] != names[i] {
			t.Fatalf("listed %v, want %v", seen, names)
		}
	}
	_, err = c.Namespaces.ListNamespaces(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}

	for _, n := range names {
		resp, err := c.DeleteNamespace(ctx, n, false)
		if err != nil || !resp.GetDeleted() {
			t.Fatalf("delete %s: %v %v", n, resp, err)
		}
	}
	_, err = c.DeleteNamespace(ctx, names[0], false)
	wantReason(t, err, artimeta.ErrNotFound, "NAMESPACE_NOT_FOUND")
	resp, err := c.DeleteNamespace(ctx, names[0], true)
	if err != nil || resp.GetDeleted() {
		t.Fatalf("allow_missing delete: %v %v", resp, err)
	}
}

func TestDefaultDeadline(t *testing.T) {
	c := liveClient(t, artimeta.WithTimeout(time.Microsecond))
	_, err := c.GetNamespace(context.Background(), "anything")
	wantReason(t, err, artimeta.ErrDeadlineExceeded, "DEADLINE_EXCEEDED")
	// A reason only gRPC itself raises is no ErrorReason.
	if got := artimeta.ParseReason("UNIMPLEMENTED"); got != artimetav1.ErrorReason_ERROR_REASON_UNSPECIFIED {
		t.Fatalf("want ERROR_REASON_UNSPECIFIED for UNIMPLEMENTED, got %v", got)
	}
}

func asError(err error, target **artimeta.Error) bool { return errors.As(err, target) }
