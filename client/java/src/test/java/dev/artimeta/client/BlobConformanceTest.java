package dev.artimeta.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import dev.artimeta.v1.Digest;
import dev.artimeta.v1.GetKeyRequest;
import dev.artimeta.v1.PutKeyRequest;
import dev.artimeta.v1.StatBlobRequest;
import dev.artimeta.v1.UploadRequest;
import dev.artimeta.v1.UploadResponse;
import io.grpc.stub.StreamObserver;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/** Blob conformance with Python: the same bytes (tests/clients/conformance.py), digests checked both ways. */
class BlobConformanceTest extends LiveServerTest {
  static final String BLOB_KEY = "conformance/blob";

  static byte[] blob() {
    byte[] b = new byte[1_500_007];
    for (int i = 0; i < b.length; i++) {
      b[i] = (byte) ((i * 31 + i / 251) % 256);
    }
    return b;
  }

  static void checkBlob(String ns) {
    Digest digest = ArtimetaClient.call(() -> client.blobs().getKey(
        GetKeyRequest.newBuilder().setNamespace(ns).setKey(BLOB_KEY).build())).getEntry().getDigest();
    assertEquals(ArtimetaClient.digestOf(blob()), digest);
    assertArrayEquals(blob(), client.getBlob(ns, digest));
  }

  @Test
  void readsWhatPythonWrote() {
    String ns = System.getenv("ARTIMETA_PY_NAMESPACE");
    assumeTrue(ns != null, "ARTIMETA_PY_NAMESPACE is not set");
    checkBlob(ns);
  }

  @Test
  void writesForPythonDigestsChecked() {
    String prefix = System.getenv("ARTIMETA_WRITE_PREFIX");
    assumeTrue(prefix != null, "ARTIMETA_WRITE_PREFIX is not set");
    String ns = prefix + "-blob"; // left for Python to read back
    LineageListsRecordsConformanceTest.ensureNamespace(client, ns); // whichever suite runs first creates it
    Digest digest = client.putBlob(ns, blob());
    assertEquals(ArtimetaClient.digestOf(blob()), digest);
    ArtimetaClient.call(() -> client.blobs().putKey(PutKeyRequest.newBuilder().setNamespace(ns).setKey(BLOB_KEY).setDigest(digest).build()));
    checkBlob(ns);
    assertEquals(digest, client.putBlob(ns, blob())); // already present: no bytes needed

    // Bytes that do not match the digest are refused and nothing is stored.
    Digest wrong = ArtimetaClient.digestOf("something else".getBytes(StandardCharsets.UTF_8));
    CompletableFuture<UploadResponse> done = new CompletableFuture<>();
    StreamObserver<UploadRequest> upload = client.blobsAsync().upload(new StreamObserver<>() {
      @Override
      public void onNext(UploadResponse value) {
        done.complete(value);
      }

      @Override
      public void onError(Throwable t) {
        done.completeExceptionally(ArtimetaException.from(t));
      }

      @Override
      public void onCompleted() {}
    });
    upload.onNext(UploadRequest.newBuilder().setNamespace(ns).setDigest(wrong).setData(ByteString.copyFromUtf8("something elsf")).build());
    upload.onCompleted();
    var mismatch = assertThrows(CompletionException.class, done::join);
    assertEquals("DIGEST_MISMATCH", ((ArtimetaException.FailedPrecondition) mismatch.getCause()).reason());
    var stat = assertThrows(ArtimetaException.NotFound.class, () -> ArtimetaClient.call(() -> client.blobs().statBlob(
        StatBlobRequest.newBuilder().setNamespace(ns).setDigest(wrong).build())));
    assertEquals("BLOB_NOT_FOUND", stat.reason());
    var missing = assertThrows(ArtimetaException.NotFound.class, () -> client.getBlob(ns, wrong));
    assertEquals("BLOB_NOT_FOUND", missing.reason());
  }
}
