package dev.artimeta.client;

import com.google.common.util.concurrent.ListenableFuture;
import com.google.common.util.concurrent.MoreExecutors;
import com.google.protobuf.ByteString;
import dev.artimeta.v1.BlobServiceGrpc;
import dev.artimeta.v1.CacheServiceGrpc;
import dev.artimeta.v1.ConnectionServiceGrpc;
import dev.artimeta.v1.Digest;
import dev.artimeta.v1.DownloadRequest;
import dev.artimeta.v1.DownloadResponse;
import dev.artimeta.v1.OpStoreServiceGrpc;
import dev.artimeta.v1.RecordServiceGrpc;
import dev.artimeta.v1.UploadRequest;
import dev.artimeta.v1.UploadResponse;
import io.grpc.Status;
import io.grpc.stub.StreamObserver;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import dev.artimeta.v1.CreateNamespaceRequest;
import dev.artimeta.v1.DeleteNamespaceRequest;
import dev.artimeta.v1.DeleteNamespaceResponse;
import dev.artimeta.v1.GetNamespaceRequest;
import dev.artimeta.v1.ListNamespacesRequest;
import dev.artimeta.v1.ListNamespacesResponse;
import dev.artimeta.v1.Namespace;
import dev.artimeta.v1.NamespaceServiceGrpc;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ChannelCredentials;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ClientInterceptors;
import io.grpc.ForwardingClientCall;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Metadata;
import io.grpc.MethodDescriptor;
import io.grpc.TlsChannelCredentials;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Function;
import java.util.function.Supplier;

/**
 * A client of the artimeta metadata service over the generated artimeta.v1 stubs: one channel with
 * a default deadline, retries of UNAVAILABLE with exponential backoff (gRPC service config), an
 * optional bearer token and TLS roots, and typed {@link ArtimetaException}s. Every stub made with
 * {@link #channel()} gets the same deadline and token, so services without helpers here are just as
 * usable. Thread-safe; share one per process and close it at the end.
 */
public final class ArtimetaClient implements AutoCloseable {
  public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(30);
  public static final int MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
  private static final Metadata.Key<String> AUTHORIZATION =
      Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);

  private final ManagedChannel managed;
  private final Channel channel;
  private final NamespaceServiceGrpc.NamespaceServiceBlockingStub namespaces;
  private final NamespaceServiceGrpc.NamespaceServiceFutureStub namespacesAsync;
  private final ConnectionServiceGrpc.ConnectionServiceBlockingStub connection;
  private final ConnectionServiceGrpc.ConnectionServiceFutureStub connectionAsync;
  private final BlobServiceGrpc.BlobServiceBlockingStub blobs;
  private final BlobServiceGrpc.BlobServiceStub blobsAsync;
  private final RecordServiceGrpc.RecordServiceBlockingStub records;
  private final CacheServiceGrpc.CacheServiceBlockingStub cache;
  private final OpStoreServiceGrpc.OpStoreServiceBlockingStub opStore;

  /** The size of the messages {@link #putBlob} streams (well under any message limit). */
  public static final int UPLOAD_CHUNK_BYTES = 256 * 1024;

  /**
   * Retries UNAVAILABLE through the gRPC service config (the same policy in every language), for
   * the RPCs whose retry class allows it ({@link RetryClasses}, read from the proto).
   */
  public record RetryPolicy(int maxAttempts, Duration initialBackoff, Duration maxBackoff, double backoffMultiplier) {
    public static final RetryPolicy DEFAULT =
        new RetryPolicy(5, Duration.ofMillis(100), Duration.ofSeconds(2), 2.0);

    Map<String, ?> serviceConfig() {
      Map<String, Object> retry = Map.of(
          "maxAttempts", (double) maxAttempts,
          "initialBackoff", initialBackoff.toMillis() / 1000.0 + "s",
          "maxBackoff", maxBackoff.toMillis() / 1000.0 + "s",
          "backoffMultiplier", backoffMultiplier,
          "retryableStatusCodes", List.of("UNAVAILABLE"));
      return Map.of("methodConfig", List.of(Map.of("name", RetryClasses.retriedNames(), "retryPolicy", retry)));
    }
  }

  public static Builder builder(String target) {
    return new Builder(target);
  }

  /** A client with the defaults: plaintext, 30 s deadline, retries on. */
  public static ArtimetaClient connect(String target) {
    return builder(target).build();
  }

  public static final class Builder {
    private final String target;
    private Duration timeout = DEFAULT_TIMEOUT;
    private RetryPolicy retry = RetryPolicy.DEFAULT;
    private String token;
    private byte[] rootCerts;
    private boolean tls;

    private Builder(String target) {
      this.target = target;
    }

    /** The deadline of unary calls made without one. */
    public Builder timeout(Duration timeout) {
      this.timeout = timeout;
      return this;
    }

    /** null disables retries. */
    public Builder retry(RetryPolicy retry) {
      this.retry = retry;
      return this;
    }

    /** Sent as {@code authorization: Bearer <token>} on every call. */
    public Builder token(String token) {
      this.token = token;
      return this;
    }

    /** Dials with TLS trusting these PEM roots (null: the system's roots). */
    public Builder tls(byte[] pemRootCerts) {
      this.tls = true;
      this.rootCerts = pemRootCerts;
      return this;
    }

    public ArtimetaClient build() {
      ChannelCredentials creds = InsecureChannelCredentials.create();
      if (tls) {
        TlsChannelCredentials.Builder b = TlsChannelCredentials.newBuilder();
        if (rootCerts != null) {
          try {
            b.trustManager(new ByteArrayInputStream(rootCerts));
          } catch (IOException e) {
            throw new UncheckedIOException(e);
          }
        }
        creds = b.build();
      }
      ManagedChannelBuilder<?> cb = Grpc.newChannelBuilder(target, creds)
          .maxInboundMessageSize(MAX_MESSAGE_BYTES)
          .keepAliveTime(60, TimeUnit.SECONDS);
      if (retry != null) {
        cb.defaultServiceConfig(retry.serviceConfig()).enableRetry();
      } else {
        cb.disableRetry();
      }
      return new ArtimetaClient(cb.build(), timeout, token);
    }
  }

  private ArtimetaClient(ManagedChannel managed, Duration timeout, String token) {
    this.managed = managed;
    this.channel = ClientInterceptors.intercept(managed, new Defaults(timeout, token));
    this.namespaces = NamespaceServiceGrpc.newBlockingStub(channel);
    this.namespacesAsync = NamespaceServiceGrpc.newFutureStub(channel);
    this.connection = ConnectionServiceGrpc.newBlockingStub(channel);
    this.connectionAsync = ConnectionServiceGrpc.newFutureStub(channel);
    this.blobs = BlobServiceGrpc.newBlockingStub(channel);
    this.blobsAsync = BlobServiceGrpc.newStub(channel);
    this.records = RecordServiceGrpc.newBlockingStub(channel);
    this.cache = CacheServiceGrpc.newBlockingStub(channel);
    this.opStore = OpStoreServiceGrpc.newBlockingStub(channel);
  }

  /** The channel (with default deadline and token) for any generated artimeta.v1 stub. */
  public Channel channel() {
    return channel;
  }

  /** The generated blocking stub; wrap calls in {@link #call} for typed errors. */
  public NamespaceServiceGrpc.NamespaceServiceBlockingStub namespaces() {
    return namespaces;
  }

  /** The generated future stub; wrap results in {@link #async} for typed errors. */
  public NamespaceServiceGrpc.NamespaceServiceFutureStub namespacesAsync() {
    return namespacesAsync;
  }

  /** arti's backend (graphs, snapshots, tags, partitions), blocking; wrap calls in {@link #call} / {@link #stream}. */
  public ConnectionServiceGrpc.ConnectionServiceBlockingStub connection() {
    return connection;
  }

  /** arti's backend as a future stub; wrap results in {@link #async}. */
  public ConnectionServiceGrpc.ConnectionServiceFutureStub connectionAsync() {
    return connectionAsync;
  }

  /** Content-addressed blobs and keyed objects, blocking; uploads go through {@link #putBlob}. */
  public BlobServiceGrpc.BlobServiceBlockingStub blobs() {
    return blobs;
  }

  /** The asynchronous (StreamObserver) blob stub, for client-streaming uploads. */
  public BlobServiceGrpc.BlobServiceStub blobsAsync() {
    return blobsAsync;
  }

  /** Record directories (manifests of blobs), blocking. */
  public RecordServiceGrpc.RecordServiceBlockingStub records() {
    return records;
  }

  /** redun's backend (values, call nodes, executions, jobs), blocking. */
  public CacheServiceGrpc.CacheServiceBlockingStub cache() {
    return cache;
  }

  /** chariots' op store (ops, versions, links, pipelines), blocking. */
  public OpStoreServiceGrpc.OpStoreServiceBlockingStub opStore() {
    return opStore;
  }

  /** The content identity of data: its sha256 and length. */
  public static Digest digestOf(byte[] data) {
    try {
      byte[] sum = MessageDigest.getInstance("SHA-256").digest(data);
      return Digest.newBuilder().setHash(HexFormat.of().formatHex(sum)).setSizeBytes(data.length).build();
    } catch (NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  /** Streams data into the namespace's blob store; the server verifies it against its digest. */
  public Digest putBlob(String namespace, byte[] data) {
    Digest digest = digestOf(data);
    CompletableFuture<UploadResponse> done = new CompletableFuture<>();
    StreamObserver<UploadRequest> upload = blobsAsync.upload(new StreamObserver<>() {
      @Override
      public void onNext(UploadResponse value) {
        done.complete(value);
      }

      @Override
      public void onError(Throwable t) {
        done.completeExceptionally(ArtimetaException.from(t));
      }

      @Override
      public void onCompleted() {
        done.complete(null);
      }
    });
    for (int off = 0; off == 0 || off < data.length; off += UPLOAD_CHUNK_BYTES) {
      UploadRequest.Builder req = UploadRequest.newBuilder()
          .setData(ByteString.copyFrom(data, off, Math.min(UPLOAD_CHUNK_BYTES, data.length - off)));
      if (off == 0) {
        req.setNamespace(namespace).setDigest(digest);
      }
      upload.onNext(req.build());
    }
    upload.onCompleted();
    try {
      return done.join().getDigest();
    } catch (java.util.concurrent.CompletionException e) {
      throw ArtimetaException.from(e.getCause());
    }
  }

  /** Downloads a whole blob and checks it against its digest (a mismatch is DATA_LOSS). */
  public byte[] getBlob(String namespace, Digest digest) {
    List<ByteString> chunks = new ArrayList<>();
    for (DownloadResponse chunk : stream(() -> blobs.download(
        DownloadRequest.newBuilder().setNamespace(namespace).setDigest(digest).build()))) {
      chunks.add(chunk.getData());
    }
    byte[] data = ByteString.copyFrom(chunks).toByteArray();
    Digest got = digestOf(data);
    if (!got.equals(digest)) {
      throw new ArtimetaException(Status.Code.DATA_LOSS, "DIGEST_MISMATCH",
          "downloaded " + data.length + " bytes with sha256 " + got.getHash() + ", expected " + digest.getHash(), Map.of(), null);
    }
    return data;
  }

  /** A blocking server stream whose failures, also those met while iterating, are typed. */
  public static <T> Iterable<T> stream(Supplier<Iterator<T>> rpc) {
    return () -> {
      Iterator<T> it = call(rpc);
      return new Iterator<T>() {
        @Override
        public boolean hasNext() {
          return call(it::hasNext);
        }

        @Override
        public T next() {
          return call(it::next);
        }
      };
    };
  }

  /** Runs a blocking stub call, turning a failed status into a typed {@link ArtimetaException}. */
  public static <T> T call(Supplier<T> rpc) {
    try {
      return rpc.get();
    } catch (RuntimeException e) {
      throw ArtimetaException.from(e);
    }
  }

  /** A future stub's result as a CompletableFuture failing with a typed {@link ArtimetaException}. */
  public static <T> CompletableFuture<T> async(ListenableFuture<T> future) {
    CompletableFuture<T> out = new CompletableFuture<>();
    future.addListener(() -> {
      try {
        out.complete(future.get());
      } catch (ExecutionException e) {
        out.completeExceptionally(ArtimetaException.from(e.getCause()));
      } catch (InterruptedException | RuntimeException e) {
        out.completeExceptionally(ArtimetaException.from(e));
      }
    }, MoreExecutors.directExecutor());
    return out;
  }

  public Namespace createNamespace(String name, String description, Map<String, String> labels) {
    Namespace spec = Namespace.newBuilder().setName(name).setDescription(description).putAllLabels(labels).build();
    return call(() -> namespaces.createNamespace(CreateNamespaceRequest.newBuilder().setNamespace(spec).build()))
        .getNamespace();
  }

  public Namespace getNamespace(String name) {
    return call(() -> namespaces.getNamespace(GetNamespaceRequest.newBuilder().setName(name).build())).getNamespace();
  }

  public CompletableFuture<Namespace> getNamespaceAsync(String name) {
    return async(namespacesAsync.getNamespace(GetNamespaceRequest.newBuilder().setName(name).build()))
        .thenApply(r -> r.getNamespace());
  }

  /** Every namespace in name order, fetched lazily in pages of pageSize (0: the server's default). */
  public Iterable<Namespace> listNamespaces(int pageSize) {
    return () -> new Pager<>(token -> {
      ListNamespacesResponse page = call(() -> namespaces.listNamespaces(
          ListNamespacesRequest.newBuilder().setPageSize(pageSize).setPageToken(token).build()));
      return new Page<>(page.getNamespacesList(), page.getNextPageToken());
    });
  }

  public DeleteNamespaceResponse deleteNamespace(String name, boolean allowMissing) {
    return call(() -> namespaces.deleteNamespace(
        DeleteNamespaceRequest.newBuilder().setName(name).setAllowMissing(allowMissing).build()));
  }

  @Override
  public void close() {
    managed.shutdown();
    try {
      if (!managed.awaitTermination(5, TimeUnit.SECONDS)) {
        managed.shutdownNow();
      }
    } catch (InterruptedException e) {
      managed.shutdownNow();
      Thread.currentThread().interrupt();
    }
  }

  /** One page of a keyset-paginated list; an empty token marks the last page. */
  public record Page<T>(List<T> items, String nextPageToken) {}

  /** Iterates items across pages, fetching the next page only when needed. */
  public static final class Pager<T> implements Iterator<T> {
    private final Function<String, Page<T>> fetch;
    private List<T> items = new ArrayList<>();
    private int index;
    private String token = "";
    private boolean last;

    public Pager(Function<String, Page<T>> fetch) {
      this.fetch = fetch;
    }

    @Override
    public boolean hasNext() {
      while (index >= items.size() && !last) {
        Page<T> page = fetch.apply(token);
        items = page.items();
        index = 0;
        token = page.nextPageToken();
        last = token.isEmpty();
      }
      return index < items.size();
    }

    @Override
    public T next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      return items.get(index++);
    }
  }

  /**
   * Adds the default deadline (unary calls only) and the bearer token to every call, and a
   * request_id to the mutations that take one (once per call: gRPC's retries resend it).
   */
  private static final class Defaults implements ClientInterceptor {
    private final Duration timeout;
    private final String token;

    Defaults(Duration timeout, String token) {
      this.timeout = timeout;
      this.token = token;
    }

    @Override
    public <Q, R> ClientCall<Q, R> interceptCall(MethodDescriptor<Q, R> method, CallOptions options, Channel next) {
      if (options.getDeadline() == null && method.getType() == MethodDescriptor.MethodType.UNARY) {
        options = options.withDeadlineAfter(timeout.toNanos(), TimeUnit.NANOSECONDS);
      }
      return new ForwardingClientCall.SimpleForwardingClientCall<>(next.newCall(method, options)) {
        @Override
        public void start(Listener<R> listener, Metadata headers) {
          if (token != null && !token.isEmpty()) {
            headers.put(AUTHORIZATION, "Bearer " + token);
          }
          super.start(listener, headers);
        }

        @Override
        public void sendMessage(Q message) {
          super.sendMessage(RetryClasses.withRequestId(method.getFullMethodName(), message));
        }
      };
    }
  }
}
