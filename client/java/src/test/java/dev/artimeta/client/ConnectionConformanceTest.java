package dev.artimeta.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import dev.artimeta.v1.CalendarDate;
import dev.artimeta.v1.CompositeKey;
import dev.artimeta.v1.ConnectionServiceGrpc.ConnectionServiceBlockingStub;
import dev.artimeta.v1.Graph;
import dev.artimeta.v1.GraphSnapshot;
import dev.artimeta.v1.ListGraphsRequest;
import dev.artimeta.v1.ListGraphsResponse;
import dev.artimeta.v1.NullPartitionKey;
import dev.artimeta.v1.PartitionKey;
import dev.artimeta.v1.ReadArtifactPartitionsRequest;
import dev.artimeta.v1.ReadArtifactPartitionsResponse;
import dev.artimeta.v1.ReadGraphRequest;
import dev.artimeta.v1.ReadSnapshotPartitionsRequest;
import dev.artimeta.v1.ReadSnapshotPartitionsResponse;
import dev.artimeta.v1.ReadSnapshotRequest;
import dev.artimeta.v1.ReadSnapshotTagRequest;
import dev.artimeta.v1.ReadSnapshotTagResponse;
import dev.artimeta.v1.StoragePartition;
import dev.artimeta.v1.WriteArtifactAndGraphPartitionsRequest;
import dev.artimeta.v1.WriteArtifactAndGraphPartitionsResponse;
import dev.artimeta.v1.WriteGraphRequest;
import dev.artimeta.v1.WriteSnapshotRequest;
import dev.artimeta.v1.WriteSnapshotTagRequest;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Connection conformance with Python: the fixture of tests/clients/conformance.py, same formulas. */
class ConnectionConformanceTest extends LiveServerTest {
  static final String GRAPH_NAME = "conformance/graph ✓";
  static final long GRAPH_FP = -8070450532247928833L;
  static final String DOC_FORMAT = "application/x-conformance";
  static final List<String> GRAPH_CODE_REFS = List.of("conformance.graph:Graph", "ünï.mod:Thing");
  static final long SNAP_FP = 9223372036854775807L;
  static final long SNAP_ID = -1L;
  static final byte[] SNAP_DOC = "\u0000\u00ffsnapshot\n".getBytes(StandardCharsets.ISO_8859_1);
  static final List<String> SNAP_CODE_REFS = List.of("conformance.snapshot:Snapshot");
  static final String TAG = "prod";
  static final String ARTIFACT_KEY = "data";
  static final long STORAGE_FP = 1234567890123456789L;
  static final int N_PARTITIONS = 10_000;
  static final long[] PAGE_FPS = {-3, -1, 0, 2, 5};

  static byte[] graphDoc() {
    byte[] doc = new byte[6000];
    for (int i = 0; i < doc.length; i++) {
      doc[i] = (byte) ((i * 7 + 3) % 256);
    }
    return doc;
  }

  static StoragePartition partition(int i) {
    CompositeKey keys = CompositeKey.newBuilder()
        .putKeys("id", PartitionKey.newBuilder().setInt64Key(i * 1_000_003L - 5_000_000_000L).build())
        .putKeys("bucket", PartitionKey.newBuilder().setInt8Key(i % 256 - 128).build())
        .putKeys("day", PartitionKey.newBuilder().setDateKey(
            CalendarDate.newBuilder().setYear(2000 + i % 30).setMonth(1 + i % 12).setDay(1 + i % 28)).build())
        .putKeys("none", PartitionKey.newBuilder().setNullKey(NullPartitionKey.getDefaultInstance()).build())
        .build();
    StoragePartition.Builder p = StoragePartition.newBuilder()
        .setKeys(keys)
        .setContentFingerprint(-(i + 1L) * 1_099_511_627_777L)
        .setType("arti.storage.local:LocalFilePartition")
        .setFields(ByteString.copyFromUtf8(String.format("{\"path\":\"/conformance/part-%05d\",\"size\":%d}", i, i)));
    if (i % 2 == 0) {
      p.setInputFingerprint(i * 2_654_435_761L);
    }
    return p.build();
  }

  static String canonical(StoragePartition p) {
    List<String> keys = new ArrayList<>();
    for (Map.Entry<String, PartitionKey> e : new TreeMap<>(p.getKeys().getKeysMap()).entrySet()) {
      PartitionKey k = e.getValue();
      String v = switch (k.getKeyCase()) {
        case DATE_KEY -> String.format("date:%04d-%02d-%02d", k.getDateKey().getYear(), k.getDateKey().getMonth(), k.getDateKey().getDay());
        case NULL_KEY -> "null";
        case INT8_KEY -> "int8:" + k.getInt8Key();
        case INT16_KEY -> "int16:" + k.getInt16Key();
        case INT32_KEY -> "int32:" + k.getInt32Key();
        case INT64_KEY -> "int64:" + k.getInt64Key();
        case KEY_NOT_SET -> "unset";
      };
      keys.add(e.getKey() + "=" + v);
    }
    return String.join(";", keys) + "|" + (p.hasInputFingerprint() ? Long.toString(p.getInputFingerprint()) : "-") + "|"
        + (p.hasContentFingerprint() ? Long.toString(p.getContentFingerprint()) : "-") + "|" + p.getType() + "|"
        + HexFormat.of().formatHex(p.getFields().toByteArray());
  }

  static void writeConnection(String ns, String actor) {
    ConnectionServiceBlockingStub c = client.connection();
    ArtimetaClient.call(() -> c.writeGraph(WriteGraphRequest.newBuilder().setNamespace(ns).setGraph(Graph.newBuilder()
        .setName(GRAPH_NAME).setFingerprint(GRAPH_FP).setDocument(ByteString.copyFrom(graphDoc()))
        .setDocumentFormat(DOC_FORMAT).addAllCodeRefs(GRAPH_CODE_REFS)).build()));
    for (long fp : PAGE_FPS) {
      ArtimetaClient.call(() -> c.writeGraph(WriteGraphRequest.newBuilder().setNamespace(ns).setGraph(Graph.newBuilder()
          .setName(GRAPH_NAME).setFingerprint(fp).setDocument(ByteString.copyFromUtf8("page"))).build()));
    }
    ArtimetaClient.call(() -> c.writeSnapshot(WriteSnapshotRequest.newBuilder().setNamespace(ns).setSnapshot(
        GraphSnapshot.newBuilder().setName(GRAPH_NAME).setFingerprint(SNAP_FP).setId(SNAP_ID).setGraphFingerprint(GRAPH_FP)
            .setDocument(ByteString.copyFrom(SNAP_DOC)).setDocumentFormat(DOC_FORMAT).addAllCodeRefs(SNAP_CODE_REFS)).build()));
    ArtimetaClient.call(() -> c.writeSnapshotTag(WriteSnapshotTagRequest.newBuilder().setNamespace(ns).setName(GRAPH_NAME)
        .setTag(TAG).setSnapshotFingerprint(SNAP_FP).setActor(actor).build()));
    WriteArtifactAndGraphPartitionsRequest.Builder req = WriteArtifactAndGraphPartitionsRequest.newBuilder()
        .setNamespace(ns).setName(GRAPH_NAME).setSnapshotFingerprint(SNAP_FP).setArtifactKey(ARTIFACT_KEY)
        .setStorageFingerprint(STORAGE_FP);
    for (int i = 0; i < N_PARTITIONS; i++) {
      req.addPartitions(partition(i));
    }
    WriteArtifactAndGraphPartitionsResponse added = ArtimetaClient.call(
        () -> c.withDeadlineAfter(120, TimeUnit.SECONDS).writeArtifactAndGraphPartitions(req.build()));
    assertEquals(N_PARTITIONS, added.getArtifactAddedCount());
    assertEquals(N_PARTITIONS, added.getSnapshotAddedCount());
  }

  static void checkConnection(String ns, String actor) {
    ConnectionServiceBlockingStub c = client.connection();
    Graph g = ArtimetaClient.call(() -> c.readGraph(
        ReadGraphRequest.newBuilder().setNamespace(ns).setName(GRAPH_NAME).setFingerprint(GRAPH_FP).build())).getGraph();
    assertEquals(GRAPH_NAME, g.getName());
    assertEquals(GRAPH_FP, g.getFingerprint());
    assertArrayEquals(graphDoc(), g.getDocument().toByteArray());
    assertEquals(DOC_FORMAT, g.getDocumentFormat());
    assertEquals(GRAPH_CODE_REFS, g.getCodeRefsList());
    assertEquals(6000, g.getDocumentSize());

    GraphSnapshot s = ArtimetaClient.call(() -> c.readSnapshot(
        ReadSnapshotRequest.newBuilder().setNamespace(ns).setName(GRAPH_NAME).setFingerprint(SNAP_FP).build())).getSnapshot();
    assertEquals(SNAP_FP, s.getFingerprint());
    assertEquals(SNAP_ID, s.getId());
    assertEquals(GRAPH_FP, s.getGraphFingerprint());
    assertArrayEquals(SNAP_DOC, s.getDocument().toByteArray());
    assertEquals(SNAP_CODE_REFS, s.getCodeRefsList());

    ReadSnapshotTagResponse tagged = ArtimetaClient.call(() -> c.readSnapshotTag(
        ReadSnapshotTagRequest.newBuilder().setNamespace(ns).setName(GRAPH_NAME).setTag(TAG).build()));
    assertEquals(SNAP_FP, tagged.getSnapshot().getFingerprint());
    assertArrayEquals(SNAP_DOC, tagged.getSnapshot().getDocument().toByteArray());
    assertEquals(actor, tagged.getTag().getActor());

    List<Long> listed = new ArrayList<>();
    for (Graph each : new Iterable<Graph>() {
      @Override
      public java.util.Iterator<Graph> iterator() {
        return new ArtimetaClient.Pager<>(token -> {
          ListGraphsResponse page = ArtimetaClient.call(() -> c.listGraphs(ListGraphsRequest.newBuilder()
              .setNamespace(ns).setName(GRAPH_NAME).setPageSize(2).setPageToken(token).build()));
          assertTrue(page.getGraphsCount() <= 2);
          return new ArtimetaClient.Page<>(page.getGraphsList(), page.getNextPageToken());
        });
      }
    }) {
      assertTrue(each.getDocument().isEmpty());
      listed.add(each.getFingerprint());
    }
    assertEquals(List.of(GRAPH_FP, -3L, -1L, 0L, 2L, 5L), listed);

    Set<String> want = new HashSet<>();
    for (int i = 0; i < N_PARTITIONS; i++) {
      want.add(canonical(partition(i)));
    }
    List<String> fromSnapshot = new ArrayList<>();
    for (ReadSnapshotPartitionsResponse chunk : ArtimetaClient.stream(() -> c.readSnapshotPartitions(
        ReadSnapshotPartitionsRequest.newBuilder().setNamespace(ns).setName(GRAPH_NAME).setSnapshotFingerprint(SNAP_FP)
            .setArtifactKey(ARTIFACT_KEY).build()))) {
      chunk.getPartitionsList().forEach(p -> fromSnapshot.add(canonical(p)));
    }
    assertEquals(N_PARTITIONS, fromSnapshot.size());
    assertEquals(want, new HashSet<>(fromSnapshot));
    List<String> fromStorage = new ArrayList<>();
    for (ReadArtifactPartitionsResponse chunk : ArtimetaClient.stream(() -> c.readArtifactPartitions(
        ReadArtifactPartitionsRequest.newBuilder().setNamespace(ns).setStorageFingerprint(STORAGE_FP).build()))) {
      chunk.getPartitionsList().forEach(p -> fromStorage.add(canonical(p)));
    }
    assertEquals(N_PARTITIONS, fromStorage.size());
    assertEquals(want, new HashSet<>(fromStorage));
  }

  @Test
  void readsWhatPythonWrote() {
    String ns = System.getenv("ARTIMETA_PY_NAMESPACE");
    assumeTrue(ns != null, "ARTIMETA_PY_NAMESPACE is not set");
    checkConnection(ns, "python");
  }

  @Test
  void writesForPythonWithTypedErrors() {
    String prefix = System.getenv("ARTIMETA_WRITE_PREFIX");
    assumeTrue(prefix != null, "ARTIMETA_WRITE_PREFIX is not set");
    String ns = prefix + "-conn"; // left for Python to read back
    LineageListsRecordsConformanceTest.ensureNamespace(client, ns); // whichever suite runs first creates it
    writeConnection(ns, "java");
    checkConnection(ns, "java");
    ConnectionServiceBlockingStub c = client.connection();
    var graph = assertThrows(ArtimetaException.NotFound.class, () -> ArtimetaClient.call(() -> c.readGraph(
        ReadGraphRequest.newBuilder().setNamespace(ns).setName(GRAPH_NAME).setFingerprint(1).build())));
    assertEquals("GRAPH_NOT_FOUND", graph.reason());
    var tag = assertThrows(ArtimetaException.NotFound.class, () -> ArtimetaClient.call(() -> c.readSnapshotTag(
        ReadSnapshotTagRequest.newBuilder().setNamespace(ns).setName(GRAPH_NAME).setTag("nope").build())));
    assertEquals("TAG_NOT_FOUND", tag.reason());
    var exists = assertThrows(ArtimetaException.AlreadyExists.class, () -> ArtimetaClient.call(() -> c.writeSnapshotTag(
        WriteSnapshotTagRequest.newBuilder().setNamespace(ns).setName(GRAPH_NAME).setTag(TAG).setSnapshotFingerprint(SNAP_FP).build())));
    assertEquals("TAG_EXISTS", exists.reason());
    // A failure inside a server stream surfaces typed too.
    var missing = assertThrows(ArtimetaException.NotFound.class, () -> {
      for (ReadArtifactPartitionsResponse ignored : ArtimetaClient.stream(() -> c.readArtifactPartitions(
          ReadArtifactPartitionsRequest.newBuilder().setNamespace(ns + "-missing").setStorageFingerprint(STORAGE_FP).build()))) {
        // nothing arrives
      }
    });
    assertEquals("NAMESPACE_NOT_FOUND", missing.reason());
  }
}
