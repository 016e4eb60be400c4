package artimeta

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	artimetav1 "github.com/artimeta/artimeta/client/go/artimeta/v1"
	"google.golang.org/grpc/codes"
)

// UploadChunkBytes is the size of the messages PutBlob streams (well under any message limit).
const UploadChunkBytes = 256 << 10

// DigestOf is the content identity of data: its sha256 and length.
func DigestOf(data []byte) *artimetav1.Digest {
	sum := sha256.Sum256(data)
	return &artimetav1.Digest{Hash: hex.EncodeToString(sum[:]), SizeBytes: int64(len(data))}
}

// PutBlob streams data into the namespace's blob store and returns its digest. The server
// verifies the bytes against the digest sent first; an existing blob completes at once.
func (c *Client) PutBlob(ctx context.Context, namespace string, data []byte) (*artimetav1.Digest, error) {
	digest := DigestOf(data)
	stream, err := c.Blobs.Upload(ctx)
	if err != nil {
		return nil, err
	}
	for off := 0; off == 0 || off < len(data); off += UploadChunkBytes {
		req := &artimetav1.UploadRequest{Data: data[off:min(off+UploadChunkBytes, len(data))]}
		if off == 0 {
			req.Namespace, req.Digest = namespace, digest
		}
		if err := stream.Send(req); err != nil {
			if errors.Is(err, io.EOF) {
				break // the server answered early (e.g. already present); CloseAndRecv has the outcome
			}
			return nil, err
		}
	}
	resp, err := stream.CloseAndRecv()
	if err != nil {
		return nil, err
	}
	return resp.GetDigest(), nil
}

// GetBlob downloads a whole blob and checks it against its digest (a mismatch is DATA_LOSS).
func (c *Client) GetBlob(ctx context.Context, namespace string, digest *artimetav1.Digest) ([]byte, error) {
	stream, err := c.Blobs.Download(ctx, &artimetav1.DownloadRequest{Namespace: namespace, Digest: digest})
	if err != nil {
		return nil, err
	}
	data := make([]byte, 0, digest.GetSizeBytes())
	for {
		chunk, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		data = append(data, chunk.GetData()...)
	}
	if got := DigestOf(data); got.GetHash() != digest.GetHash() || got.GetSizeBytes() != digest.GetSizeBytes() {
		return nil, &Error{Code: codes.DataLoss, Reason: "DIGEST_MISMATCH",
			Message: fmt.Sprintf("downloaded %d bytes with sha256 %s, expected %s", len(data), got.GetHash(), digest.GetHash())}
	}
	return data, nil
}
