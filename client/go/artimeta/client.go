// Package artimeta is a thin client for the artimeta metadata service over the generated
// artimeta.v1 stubs: one connection with a default deadline, retries of UNAVAILABLE with
// exponential backoff (gRPC service config), an optional bearer token and TLS roots, and errors
// typed by the server's ErrorInfo reason. Every generated stub built on Conn() gets the same
// behaviour, so services without helpers here are just as usable.
package artimeta

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"iter"
	"time"

	artimetav1 "github.com/artimeta/artimeta/client/go/artimeta/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

const (
	// DefaultTimeout bounds every unary call whose context has no deadline.
	DefaultTimeout = 30 * time.Second
	// MaxMessageBytes matches the server's default message limit.
	MaxMessageBytes = 64 << 20
)

// RetryPolicy retries UNAVAILABLE through the gRPC service config, for the RPCs whose retry class
// allows it (RetryClasses, read from the proto).
type RetryPolicy struct {
	MaxAttempts       int
	InitialBackoff    time.Duration
	MaxBackoff        time.Duration
	BackoffMultiplier float64
}

// DefaultRetry is the policy of every artimeta client (the same in all languages).
var DefaultRetry = RetryPolicy{MaxAttempts: 5, InitialBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second, BackoffMultiplier: 2}

type options struct {
	timeout time.Duration
	retry   *RetryPolicy
	token   string
	tls     *tls.Config
	extra   []grpc.DialOption
	err     error
}

// Option configures New.
type Option func(*options)

// WithTimeout sets the deadline given to unary calls whose context has none.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithRetry replaces the retry policy; nil disables retries.
func WithRetry(r *RetryPolicy) Option { return func(o *options) { o.retry = r } }

// WithToken sends `authorization: Bearer <token>` on every call.
func WithToken(token string) Option { return func(o *options) { o.token = token } }

// WithRootCAs dials with TLS, trusting the PEM certificates given (nil pem: the system roots).
func WithRootCAs(pem []byte) Option {
	return func(o *options) {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if pem != nil {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				o.err = errors.New("artimeta: WithRootCAs: no PEM certificate found")
			}
			cfg.RootCAs = pool
		}
		o.tls = cfg
	}
}

// WithTLSConfig dials with TLS using cfg (client certificates, server name, ...).
func WithTLSConfig(cfg *tls.Config) Option { return func(o *options) { o.tls = cfg } }

// WithDialOptions appends raw gRPC dial options.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(o *options) { o.extra = append(o.extra, opts...) }
}

// Client is safe for concurrent use; share one per process.
type Client struct {
	conn       *grpc.ClientConn
	Namespaces artimetav1.NamespaceServiceClient
	// Connection is arti's backend: graphs, snapshots, tags and partitions.
	Connection artimetav1.ConnectionServiceClient
	// Blobs stores content-addressed bytes and keyed objects; see also PutBlob and GetBlob.
	Blobs artimetav1.BlobServiceClient
	// Records keeps record directories (manifests of blobs).
	Records artimetav1.RecordServiceClient
	// Cache is redun's backend: values, call nodes, executions and jobs.
	Cache artimetav1.CacheServiceClient
	// OpStore is chariots' op store: ops, versions, links and pipelines.
	OpStore artimetav1.OpStoreServiceClient
}

// New connects lazily to target ("host:port"); the first call establishes the connection.
func New(target string, opts ...Option) (*Client, error) {
	o := options{timeout: DefaultTimeout, retry: &DefaultRetry}
	for _, opt := range opts {
		opt(&o)
	}
	if o.err != nil {
		return nil, o.err
	}
	creds := insecure.NewCredentials()
	if o.tls != nil {
		creds = credentials.NewTLS(o.tls)
	}
	dial := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithChainUnaryInterceptor(unaryInterceptor(o.timeout, o.token), requestIDInterceptor()),
		grpc.WithChainStreamInterceptor(streamInterceptor(o.token)),
	}
	if o.retry != nil {
		dial = append(dial, grpc.WithDefaultServiceConfig(o.retry.serviceConfig()))
	} else {
		dial = append(dial, grpc.WithDisableRetry())
	}
	conn, err := grpc.NewClient(target, append(dial, o.extra...)...)
	if err != nil {
		return nil, err
	}
	return &Client{
		conn:       conn,
		Namespaces: artimetav1.NewNamespaceServiceClient(conn),
		Connection: artimetav1.NewConnectionServiceClient(conn),
		Blobs:      artimetav1.NewBlobServiceClient(conn),
		Records:    artimetav1.NewRecordServiceClient(conn),
		Cache:      artimetav1.NewCacheServiceClient(conn),
		OpStore:    artimetav1.NewOpStoreServiceClient(conn),
	}, nil
}

// Conn is the underlying connection, for any generated artimeta.v1 stub.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Close releases the connection.
func (c *Client) Close() error { return c.conn.Close() }

func withToken(ctx context.Context, token string) context.Context {
	if token == "" {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

func unaryInterceptor(timeout time.Duration, token string) grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if _, ok := ctx.Deadline(); !ok && timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, timeout)
			defer cancel()
		}
		return fromError(invoker(withToken(ctx, token), method, req, reply, cc, opts...))
	}
}

// Streams get no default deadline (an upload may rightly take long); bound them with ctx.
func streamInterceptor(token string) grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		s, err := streamer(withToken(ctx, token), desc, cc, method, opts...)
		if err != nil {
			return nil, fromError(err)
		}
		return typedStream{s}, nil
	}
}

type typedStream struct{ grpc.ClientStream }

func (s typedStream) SendMsg(m any) error { return fromError(s.ClientStream.SendMsg(m)) }
func (s typedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil && errors.Is(err, io.EOF) {
		return err // io.EOF marks the end of a stream, not a failure
	}
	return fromError(err)
}
func (s typedStream) CloseSend() error { return fromError(s.ClientStream.CloseSend()) }

// NamespaceSpec describes a namespace to create.
type NamespaceSpec struct {
	Description string
	Labels      map[string]string
}

// CreateNamespace creates a namespace; ALREADY_EXISTS (reason NAMESPACE_EXISTS) when it exists.
func (c *Client) CreateNamespace(ctx context.Context, name string, spec NamespaceSpec) (*artimetav1.Namespace, error) {
	resp, err := c.Namespaces.CreateNamespace(ctx, &artimetav1.CreateNamespaceRequest{
		Namespace: &artimetav1.Namespace{Name: name, Description: spec.Description, Labels: spec.Labels},
	})
	return resp.GetNamespace(), err
}

// GetNamespace returns one namespace; NOT_FOUND (reason NAMESPACE_NOT_FOUND) when it does not exist.
func (c *Client) GetNamespace(ctx context.Context, name string) (*artimetav1.Namespace, error) {
	resp, err := c.Namespaces.GetNamespace(ctx, &artimetav1.GetNamespaceRequest{Name: name})
	return resp.GetNamespace(), err
}

// ListNamespaces yields every namespace in name order, fetching pages of pageSize (0: server default).
func (c *Client) ListNamespaces(ctx context.Context, pageSize int32) iter.Seq2[*artimetav1.Namespace, error] {
	return func(yield func(*artimetav1.Namespace, error) bool) {
		token := ""
		for {
			page, err := c.Namespaces.ListNamespaces(ctx, &artimetav1.ListNamespacesRequest{PageSize: pageSize, PageToken: token})
			if err != nil {
				yield(nil, err)
				return
			}
			for _, ns := range page.GetNamespaces() {
				if !yield(ns, nil) {
					return
				}
			}
			if token = page.GetNextPageToken(); token == "" {
				return
			}
		}
	}
}

// DeleteNamespace deletes a namespace and everything in it; with allowMissing a missing one is no error.
func (c *Client) DeleteNamespace(ctx context.Context, name string, allowMissing bool) (*artimetav1.DeleteNamespaceResponse, error) {
	return c.Namespaces.DeleteNamespace(ctx, &artimetav1.DeleteNamespaceRequest{Name: name, AllowMissing: allowMissing})
}
