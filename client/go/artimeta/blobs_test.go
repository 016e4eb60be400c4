package artimeta_test

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/artimeta/artimeta/client/go/artimeta"
	v1 "github.com/artimeta/artimeta/client/go/artimeta/v1"
)

const blobKey = "conformance/blob"

func conformanceBlob() []byte {
	b := make([]byte, 1_500_007)
	for i := range b {
		b[i] = byte((i*31 + i/251) % 256)
	}
	return b
}

func checkBlob(t *testing.T, c *artimeta.Client, ns string) {
	t.Helper()
	ctx := context.Background()
	entry, err := c.Blobs.GetKey(ctx, &v1.GetKeyRequest{Namespace: ns, Key: blobKey})
	if err != nil {
		t.Fatal(err)
	}
	want := artimeta.DigestOf(conformanceBlob())
	if entry.GetEntry().GetDigest().GetHash() != want.GetHash() || entry.GetEntry().GetDigest().GetSizeBytes() != want.GetSizeBytes() {
		t.Fatalf("key points at %v, want %v", entry.GetEntry().GetDigest(), want)
	}
	data, err := c.GetBlob(ctx, ns, entry.GetEntry().GetDigest())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, conformanceBlob()) {
		t.Fatal("downloaded bytes differ")
	}
}

func TestBlobReadsWhatPythonWrote(t *testing.T) {
	c := liveClient(t)
	ns := os.Getenv("ARTIMETA_PY_NAMESPACE")
	if ns == "" {
		t.Skip("ARTIMETA_PY_NAMESPACE is not set")
	}
	checkBlob(t, c, ns)
}

func TestBlobWritesForPython(t *testing.T) {
	c := liveClient(t)
	ctx := context.Background()
	prefix := os.Getenv("ARTIMETA_WRITE_PREFIX")
	if prefix == "" {
		t.Skip("ARTIMETA_WRITE_PREFIX is not set")
	}
	ns := prefix + "-blob" // left for Python to read back; the harness deletes it
	if _, err := c.CreateNamespace(ctx, ns, artimeta.NamespaceSpec{}); err != nil {
		t.Fatal(err)
	}
	digest, err := c.PutBlob(ctx, ns, conformanceBlob())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Blobs.PutKey(ctx, &v1.PutKeyRequest{Namespace: ns, Key: blobKey, Digest: digest}); err != nil {
		t.Fatal(err)
	}
	checkBlob(t, c, ns)
	// A second upload of the same bytes needs none of them.
	again, err := c.PutBlob(ctx, ns, conformanceBlob())
	if err != nil || again.GetHash() != digest.GetHash() {
		t.Fatalf("re-upload: %v %v", again, err)
	}

	// Bytes that do not match the digest are refused and nothing is stored.
	stream, err := c.Blobs.Upload(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wrong := artimeta.DigestOf([]byte("something else"))
	_ = stream.Send(&v1.UploadRequest{Namespace: ns, Digest: wrong, Data: []byte("something elsf")})
	_, err = stream.CloseAndRecv()
	wantReason(t, err, artimeta.ErrFailedPrecondition, "DIGEST_MISMATCH")
	_, err = c.Blobs.StatBlob(ctx, &v1.StatBlobRequest{Namespace: ns, Digest: wrong})
	wantReason(t, err, artimeta.ErrNotFound, "BLOB_NOT_FOUND")
	_, err = c.GetBlob(ctx, ns, wrong)
	wantReason(t, err, artimeta.ErrNotFound, "BLOB_NOT_FOUND")
}
