package dev.artimeta.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import com.google.protobuf.Any;
import com.google.rpc.Code;
import com.google.rpc.ErrorInfo;
import dev.artimeta.v1.GetNamespaceRequest;
import dev.artimeta.v1.GetNamespaceResponse;
import dev.artimeta.v1.Namespace;
import dev.artimeta.v1.NamespaceServiceGrpc;
import io.grpc.Contexts;
import io.grpc.Grpc;
import io.grpc.InsecureServerCredentials;
import io.grpc.Metadata;
import io.grpc.Server;
import io.grpc.ServerInterceptors;
import io.grpc.Status;
import io.grpc.protobuf.StatusProto;
import io.grpc.stub.StreamObserver;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** The wrapper's own behaviour against a small in-process server: retries, token, ErrorInfo. */
class ClientTest {
  static final Metadata.Key<String> AUTH = Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER);
  static final io.grpc.Context.Key<String> SEEN = io.grpc.Context.key("authorization");

  static final class Flaky extends NamespaceServiceGrpc.NamespaceServiceImplBase {
    final AtomicInteger calls = new AtomicInteger();
    final int failFor;

    Flaky(int failFor) {
      this.failFor = failFor;
    }

    @Override
    public void getNamespace(GetNamespaceRequest req, StreamObserver<GetNamespaceResponse> out) {
      if (calls.incrementAndGet() <= failFor) {
        out.onError(Status.UNAVAILABLE.withDescription("warming up").asRuntimeException());
        return;
      }
      if (req.getName().equals("missing")) {
        ErrorInfo info = ErrorInfo.newBuilder().setReason("NAMESPACE_NOT_FOUND").setDomain("artimeta")
            .putMetadata("namespace", "missing").build();
        out.onError(StatusProto.toStatusRuntimeException(com.google.rpc.Status.newBuilder()
            .setCode(Code.NOT_FOUND_VALUE).setMessage("no such namespace").addDetails(Any.pack(info)).build()));
        return;
      }
      String auth = SEEN.get() == null ? "" : SEEN.get();
      out.onNext(GetNamespaceResponse.newBuilder()
          .setNamespace(Namespace.newBuilder().setName(req.getName()).setDescription(auth)).build());
      out.onCompleted();
    }
  }

  static Server serve(Flaky impl) throws Exception {
    return serve(impl, InsecureServerCredentials.create());
  }

  static Server serve(Flaky impl, io.grpc.ServerCredentials creds) throws Exception {
    io.grpc.ServerInterceptor capture = new io.grpc.ServerInterceptor() {
      @Override
      public <Q, R> io.grpc.ServerCall.Listener<Q> interceptCall(
          io.grpc.ServerCall<Q, R> call, Metadata headers, io.grpc.ServerCallHandler<Q, R> next) {
        return Contexts.interceptCall(io.grpc.Context.current().withValue(SEEN, headers.get(AUTH)), call, headers, next);
      }
    };
    return Grpc.newServerBuilderForPort(0, creds)
        .addService(ServerInterceptors.intercept(impl, capture)).build().start();
  }

  @Test
  void retriesUnavailableAndSendsToken() throws Exception {
    Flaky impl = new Flaky(2);
    Server server = serve(impl);
    try (ArtimetaClient client = ArtimetaClient.builder("127.0.0.1:" + server.getPort()).token("s3cret").build()) {
      assertEquals("Bearer s3cret", client.getNamespace("demo").getDescription());
      assertEquals(3, impl.calls.get());
    } finally {
      server.shutdownNow();
    }
  }

  @Test
  void noRetryWhenDisabled() throws Exception {
    Server server = serve(new Flaky(1));
    try (ArtimetaClient client = ArtimetaClient.builder("127.0.0.1:" + server.getPort()).retry(null).build()) {
      assertThrows(ArtimetaException.Unavailable.class, () -> client.getNamespace("demo"));
    } finally {
      server.shutdownNow();
    }
  }

  @Test
  void errorInfoBecomesTypedException() throws Exception {
    Server server = serve(new Flaky(0));
    try (ArtimetaClient client = ArtimetaClient.connect("127.0.0.1:" + server.getPort())) {
      var e = assertThrows(ArtimetaException.NotFound.class, () -> client.getNamespace("missing"));
      assertEquals("NAMESPACE_NOT_FOUND", e.reason());
      assertEquals(Map.of("namespace", "missing"), e.metadata());
      assertEquals(Status.Code.NOT_FOUND, e.code());
    } finally {
      server.shutdownNow();
    }
  }

  /** ARTIMETA_TEST_TLS_DIR holds a self-signed cert.pem + key.pem for 127.0.0.1 (made by the harness). */
  @Test
  void tlsWithGivenRootsAndToken() throws Exception {
    String dir = System.getenv("ARTIMETA_TEST_TLS_DIR");
    org.junit.jupiter.api.Assumptions.assumeTrue(dir != null, "ARTIMETA_TEST_TLS_DIR is not set");
    java.io.File cert = new java.io.File(dir, "cert.pem");
    java.io.File key = new java.io.File(dir, "key.pem");
    Server server = serve(new Flaky(0), io.grpc.TlsServerCredentials.create(cert, key));
    String target = "127.0.0.1:" + server.getPort();
    try (ArtimetaClient client = ArtimetaClient.builder(target)
            .tls(java.nio.file.Files.readAllBytes(cert.toPath())).token("over-tls").build();
        ArtimetaClient untrusting = ArtimetaClient.builder(target).tls(null).retry(null).build()) {
      assertEquals("Bearer over-tls", client.getNamespace("demo").getDescription());
      // Without the roots the server's certificate is not trusted.
      assertThrows(ArtimetaException.Unavailable.class, () -> untrusting.getNamespace("demo"));
    } finally {
      server.shutdownNow();
    }
  }
}
