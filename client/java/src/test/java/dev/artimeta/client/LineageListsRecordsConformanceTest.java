package dev.artimeta.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.ByteString;
import dev.artimeta.v1.CommitRecordRequest;
import dev.artimeta.v1.CommitRecordResponse;
import dev.artimeta.v1.ContainsRecordRequest;
import dev.artimeta.v1.ContainsRecordResponse;
import dev.artimeta.v1.Digest;
import dev.artimeta.v1.ExecutionSummary;
import dev.artimeta.v1.FindMissingBlobsRequest;
import dev.artimeta.v1.GetGraphLineageRequest;
import dev.artimeta.v1.GetRecordRequest;
import dev.artimeta.v1.Graph;
import dev.artimeta.v1.GraphLineage;
import dev.artimeta.v1.LineageArtifact;
import dev.artimeta.v1.LineageEdge;
import dev.artimeta.v1.LineageEdgeKind;
import dev.artimeta.v1.LineageProducer;
import dev.artimeta.v1.ListExecutionsRequest;
import dev.artimeta.v1.ListExecutionsResponse;
import dev.artimeta.v1.ListOpsRequest;
import dev.artimeta.v1.ListOpsResponse;
import dev.artimeta.v1.ListSnapshotPartitionsRequest;
import dev.artimeta.v1.ListSnapshotPartitionsResponse;
import dev.artimeta.v1.OpSummary;
import dev.artimeta.v1.OpVersion;
import dev.artimeta.v1.Record;
import dev.artimeta.v1.RecordEntry;
import dev.artimeta.v1.RecordEntryKind;
import dev.artimeta.v1.WriteGraphRequest;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** Conformance with Python for lineage, lists and records: lineage, paged partitions, executions, ops, records. */
class LineageListsRecordsConformanceTest extends LiveServerTest {
  static final String LINEAGE_NAME = "conformance/lineage ✓";
  static final long LINEAGE_FP = -42L;
  static final String SMALL_ARTIFACT_KEY = "small";
  static final int N_SMALL_PARTITIONS = 5;
  static final int N_EXECUTIONS = 5;
  static final List<String> OPS_LISTED = List.of("conf/a|2|a.2.x@1.1.0/2.5", "conf/b|1|b.1.ü@1.0.0/3.25", "conf/c|0|-");
  static final String RECORD_UUID = "conformanceR";
  static final Map<String, String> RECORD_METADATA = Map.of("kind", "conformance ✓", "module", "conf.rec");
  static final Map<String, byte[]> RECORD_FILES = new LinkedHashMap<>();

  static {
    byte[] bin = new byte[256 * 3];
    for (int i = 0; i < bin.length; i++) {
      bin[i] = (byte) (i % 256);
    }
    RECORD_FILES.put("a.txt", "alpha\n".getBytes(StandardCharsets.UTF_8));
    RECORD_FILES.put("dir/b.bin", bin);
    RECORD_FILES.put("dir/ü.txt", "ünï ✓".getBytes(StandardCharsets.UTF_8));
  }

  /** Creates a namespace unless an earlier suite of this run already did. */
  static void ensureNamespace(ArtimetaClient c, String ns) {
    try {
      c.createNamespace(ns, "", Map.of());
    } catch (ArtimetaException.AlreadyExists e) {
      // created by another suite
    }
  }

  static GraphLineage lineage() {
    LineageEdgeKind in = LineageEdgeKind.LINEAGE_EDGE_KIND_INPUT;
    LineageEdgeKind out = LineageEdgeKind.LINEAGE_EDGE_KIND_OUTPUT;
    return GraphLineage.newBuilder()
        .addArtifacts(LineageArtifact.newBuilder().setKey("in").setArtifactClass("conf.art:Int").setType("Int64")
            .setFormat("JSON").setStorage("LocalFile(path='/d/{x}.json')"))
        .addArtifacts(LineageArtifact.newBuilder().setKey("mid ✓").setArtifactClass("conf.art:Float").setType("Float64")
            .setFormat("JSON").setStorage("LocalFile()"))
        .addArtifacts(LineageArtifact.newBuilder().setKey("out").setArtifactClass("conf.art:Str").setType("String")
            .setFormat("JSON").setStorage("LocalFile()"))
        .addProducers(LineageProducer.newBuilder().setKey("p1").setName("div").setQualname("conf.prod:div").setVersion("0.0.1"))
        .addProducers(LineageProducer.newBuilder().setKey("p2 ü").setName("fmt").setQualname("conf.prod:fmt").setVersion("2"))
        .addEdges(LineageEdge.newBuilder().setKind(in).setArtifactKey("in").setProducerKey("p1").setInputName("x"))
        .addEdges(LineageEdge.newBuilder().setKind(out).setArtifactKey("mid ✓").setProducerKey("p1").setOutputPosition(0))
        .addEdges(LineageEdge.newBuilder().setKind(in).setArtifactKey("mid ✓").setProducerKey("p2 ü").setInputName("y"))
        .addEdges(LineageEdge.newBuilder().setKind(out).setArtifactKey("out").setProducerKey("p2 ü").setOutputPosition(1))
        .build();
  }

  /** In path order, as GetRecord returns them. */
  static List<RecordEntry> recordEntries() {
    List<RecordEntry> entries = new ArrayList<>();
    int i = 0;
    for (Map.Entry<String, byte[]> f : RECORD_FILES.entrySet()) {
      entries.add(RecordEntry.newBuilder().setPath(f.getKey()).setKind(RecordEntryKind.RECORD_ENTRY_KIND_FILE).setMode(0644)
          .setDigest(ArtimetaClient.digestOf(f.getValue())).setModifyTimeNs(1_700_000_000_123_456_789L + i++).build());
    }
    entries.add(RecordEntry.newBuilder().setPath("empty").setKind(RecordEntryKind.RECORD_ENTRY_KIND_DIRECTORY).setMode(0755).build());
    entries.add(RecordEntry.newBuilder().setPath("link").setKind(RecordEntryKind.RECORD_ENTRY_KIND_SYMLINK).setMode(0777)
        .setLinkTarget("a.txt").build());
    entries.sort(Comparator.comparing(RecordEntry::getPath));
    return entries;
  }

  /** Every item of a keyset-paged list, fetched in pages of at most 2 through the client's Pager. */
  static <T> List<T> allPages(Function<String, ArtimetaClient.Page<T>> fetch, int[] pages) {
    List<T> items = new ArrayList<>();
    ArtimetaClient.Pager<T> pager = new ArtimetaClient.Pager<>(token -> {
      ArtimetaClient.Page<T> page = fetch.apply(token);
      assertTrue(page.items().size() <= 2);
      pages[0]++;
      return page;
    });
    pager.forEachRemaining(items::add);
    return items;
  }

  static void checkLineage(String ns) {
    GraphLineage got = ArtimetaClient.call(() -> client.connection().getGraphLineage(GetGraphLineageRequest.newBuilder()
        .setNamespace(ns).setName(LINEAGE_NAME).setFingerprint(LINEAGE_FP).build())).getLineage();
    assertEquals(lineage(), got);
  }

  static void checkRecord(String ns) {
    Record rec = ArtimetaClient.call(() -> client.records().getRecord(
        GetRecordRequest.newBuilder().setNamespace(ns).setUuid(RECORD_UUID).build())).getRecord();
    assertEquals(recordEntries(), rec.getEntriesList());
    assertEquals(RECORD_METADATA, rec.getMetadataMap());
    assertEquals(RECORD_FILES.size(), rec.getFileCount());
    ContainsRecordResponse contains = ArtimetaClient.call(() -> client.records().containsRecord(
        ContainsRecordRequest.newBuilder().setNamespace(ns).setUuid(RECORD_UUID).build()));
    assertTrue(contains.getContains());
    assertEquals(0, contains.getMissingBlobs());
    for (byte[] data : RECORD_FILES.values()) {
      assertArrayEquals(data, client.getBlob(ns, ArtimetaClient.digestOf(data)));
    }
  }

  static <E extends ArtimetaException> void assertReason(Class<E> type, String reason, Runnable call) {
    assertEquals(reason, assertThrows(type, call::run).reason());
  }

  @Test
  void readsWhatPythonWrote() {
    String ns = System.getenv("ARTIMETA_PY_NAMESPACE");
    assumeTrue(ns != null, "ARTIMETA_PY_NAMESPACE is not set");
    checkLineage(ns);

    ListSnapshotPartitionsRequest partsReq = ListSnapshotPartitionsRequest.newBuilder().setNamespace(ns)
        .setName(ConnectionConformanceTest.GRAPH_NAME).setSnapshotFingerprint(ConnectionConformanceTest.SNAP_FP)
        .setArtifactKey(SMALL_ARTIFACT_KEY).setPageSize(2).build();
    int[] pages = {0};
    List<String> parts = new ArrayList<>();
    for (var p : allPages(token -> {
      ListSnapshotPartitionsResponse r = ArtimetaClient.call(
          () -> client.connection().listSnapshotPartitions(partsReq.toBuilder().setPageToken(token).build()));
      return new ArtimetaClient.Page<>(r.getPartitionsList(), r.getNextPageToken());
    }, pages)) {
      parts.add(ConnectionConformanceTest.canonical(p));
    }
    assertEquals(3, pages[0]);
    Set<String> want = new HashSet<>();
    for (int i = 0; i < N_SMALL_PARTITIONS; i++) {
      want.add(ConnectionConformanceTest.canonical(ConnectionConformanceTest.partition(i)));
    }
    assertEquals(N_SMALL_PARTITIONS, parts.size());
    assertEquals(want, new HashSet<>(parts));

    List<ExecutionSummary> execs = allPages(token -> {
      ListExecutionsResponse r = ArtimetaClient.call(() -> client.cache().listExecutions(
          ListExecutionsRequest.newBuilder().setNamespace(ns).setPageSize(2).setPageToken(token).build()));
      return new ArtimetaClient.Page<>(r.getExecutionsList(), r.getNextPageToken());
    }, new int[1]);
    List<String> gotExecs = new ArrayList<>();
    for (ExecutionSummary e : execs) {
      gotExecs.add(e.getId() + "|" + String.join(",", e.getArgsList()) + "|" + e.getJobCount());
    }
    List<String> wantExecs = new ArrayList<>();
    for (int i = 0; i < N_EXECUTIONS; i++) {
      String id = "conformance-exec-" + i;
      wantExecs.add(id + "|redun,run," + id + "," + "ü".repeat(i) + "|0");
    }
    Collections.reverse(wantExecs); // newest first
    assertEquals(wantExecs, gotExecs);

    List<OpSummary> ops = allPages(token -> {
      ListOpsResponse r = ArtimetaClient.call(() -> client.opStore().listOps(
          ListOpsRequest.newBuilder().setNamespace(ns).setNamePrefix("conf/").setPageSize(2).setPageToken(token).build()));
      return new ArtimetaClient.Page<>(r.getOpsList(), r.getNextPageToken());
    }, new int[1]);
    List<String> listed = new ArrayList<>();
    for (OpSummary o : ops) {
      String latest = "-";
      if (o.hasLatestVersion()) {
        OpVersion v = o.getLatestVersion();
        latest = v.getMajor() + "." + v.getMinor() + "." + v.getPatch() + "@" + v.getMajorNumber() + "." + v.getMinorNumber()
            + "." + v.getPatchNumber() + "/" + v.getCreationTime();
      }
      listed.add(o.getName() + "|" + o.getVersionCount() + "|" + latest);
    }
    assertEquals(OPS_LISTED, listed);

    checkRecord(ns);

    String bad = "not-a-token";
    assertReason(ArtimetaException.InvalidArgument.class, "INVALID_PAGE_TOKEN", () -> ArtimetaClient.call(
        () -> client.connection().listSnapshotPartitions(partsReq.toBuilder().setPageToken(bad).build())));
    assertReason(ArtimetaException.InvalidArgument.class, "INVALID_PAGE_TOKEN", () -> ArtimetaClient.call(
        () -> client.cache().listExecutions(ListExecutionsRequest.newBuilder().setNamespace(ns).setPageToken(bad).build())));
    assertReason(ArtimetaException.InvalidArgument.class, "INVALID_PAGE_TOKEN", () -> ArtimetaClient.call(
        () -> client.opStore().listOps(ListOpsRequest.newBuilder().setNamespace(ns).setPageToken(bad).build())));
    assertReason(ArtimetaException.NotFound.class, "GRAPH_NOT_FOUND", () -> ArtimetaClient.call(
        () -> client.connection().getGraphLineage(GetGraphLineageRequest.newBuilder().setNamespace(ns).setName(LINEAGE_NAME)
            .setFingerprint(1).build())));
    assertReason(ArtimetaException.NotFound.class, "RECORD_NOT_FOUND", () -> ArtimetaClient.call(
        () -> client.records().getRecord(GetRecordRequest.newBuilder().setNamespace(ns).setUuid("missingR").build())));
  }

  @Test
  void writesForPythonWithTypedErrors() {
    String prefix = System.getenv("ARTIMETA_WRITE_PREFIX");
    assumeTrue(prefix != null, "ARTIMETA_WRITE_PREFIX is not set");
    // Shared with the connection and blob suites; Python reads back what is left there.
    String conn = prefix + "-conn";
    String blobs = prefix + "-blob";
    ensureNamespace(client, conn);
    ensureNamespace(client, blobs);

    // A dangling edge is refused and writes nothing, not even the graph.
    Graph graph = Graph.newBuilder().setName(LINEAGE_NAME).setFingerprint(LINEAGE_FP).setDocument(ByteString.copyFromUtf8("{}")).build();
    GraphLineage dangling = lineage().toBuilder().addEdges(LineageEdge.newBuilder()
        .setKind(LineageEdgeKind.LINEAGE_EDGE_KIND_INPUT).setArtifactKey("nowhere").setProducerKey("p1").setInputName("z")).build();
    assertReason(ArtimetaException.InvalidArgument.class, "DANGLING_LINEAGE_EDGE", () -> ArtimetaClient.call(
        () -> client.connection().writeGraph(WriteGraphRequest.newBuilder().setNamespace(conn).setGraph(graph).setLineage(dangling).build())));
    assertReason(ArtimetaException.NotFound.class, "GRAPH_NOT_FOUND", () -> ArtimetaClient.call(
        () -> client.connection().getGraphLineage(GetGraphLineageRequest.newBuilder().setNamespace(conn).setName(LINEAGE_NAME)
            .setFingerprint(LINEAGE_FP).build())));
    ArtimetaClient.call(() -> client.connection().writeGraph(
        WriteGraphRequest.newBuilder().setNamespace(conn).setGraph(graph).setLineage(lineage()).build()));
    checkLineage(conn);

    // A manifest whose blobs are absent is refused; FindMissingBlobs names them, then they upload.
    List<RecordEntry> entries = recordEntries();
    assertReason(ArtimetaException.FailedPrecondition.class, "MISSING_BLOBS", () -> ArtimetaClient.call(
        () -> client.records().commitRecord(CommitRecordRequest.newBuilder().setNamespace(blobs).setUuid(RECORD_UUID)
            .addAllEntries(entries).build())));
    List<Digest> digests = new ArrayList<>();
    RECORD_FILES.values().forEach(d -> digests.add(ArtimetaClient.digestOf(d)));
    List<Digest> missing = ArtimetaClient.call(() -> client.blobs().findMissingBlobs(
        FindMissingBlobsRequest.newBuilder().setNamespace(blobs).addAllDigests(digests).build())).getMissingDigestsList();
    assertEquals(digests, missing);
    for (byte[] data : RECORD_FILES.values()) {
      client.putBlob(blobs, data);
    }
    CommitRecordResponse committed = ArtimetaClient.call(() -> client.records().commitRecord(CommitRecordRequest.newBuilder()
        .setNamespace(blobs).setUuid(RECORD_UUID).addAllEntries(entries).putAllMetadata(RECORD_METADATA).setSetMetadata(true).build()));
    assertTrue(committed.getCreated());
    checkRecord(blobs);
  }
}
