package dev.artimeta.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.artimeta.examples.Quickstart;
import dev.artimeta.v1.ErrorReason;
import dev.artimeta.v1.Namespace;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.Test;

/**
 * Cross-language conformance against the live server the test harness started (ARTIMETA_TARGET).
 * Python writes, this reads; this writes, Python reads back (tests/clients/conformance.py).
 */
class ConformanceTest extends LiveServerTest {
  static final String DESCRIPTION = "conformance: héllo ✓ 𝄞 \"quoted\"\ttab";
  static final String TARGET = System.getenv("ARTIMETA_TARGET");

  static Map<String, String> labels(String writer) {
    return Map.of("team", "data-eng", "unicode", "ünï-ß", "writer", writer);
  }

  @Test
  void readsWhatPythonWrote() {
    String name = System.getenv("ARTIMETA_PY_NAMESPACE");
    assumeTrue(name != null, "ARTIMETA_PY_NAMESPACE is not set");
    Namespace ns = client.getNamespace(name);
    assertEquals(DESCRIPTION, ns.getDescription());
    assertEquals(labels("python"), ns.getLabelsMap());
    assertTrue(ns.hasCreateTime());
    assertEquals(ns, client.getNamespaceAsync(name).join());
  }

  @Test
  void namespaceLifecycleReasonsAndPages() {
    String prefix = System.getenv().getOrDefault("ARTIMETA_WRITE_PREFIX", "java-" + System.nanoTime());
    // Left in place for Python to read back; the harness deletes it.
    client.createNamespace(prefix, DESCRIPTION, labels("java"));
    var exists = assertThrows(ArtimetaException.AlreadyExists.class, () -> client.createNamespace(prefix, "", Map.of()));
    assertEquals("NAMESPACE_EXISTS", exists.reason());
    var missing = assertThrows(ArtimetaException.NotFound.class, () -> client.getNamespace(prefix + "-missing"));
    assertEquals("NAMESPACE_NOT_FOUND", missing.reason());
    // The wire reason parses to the generated ErrorReason value.
    assertEquals(ErrorReason.ERROR_REASON_NAMESPACE_NOT_FOUND, missing.typedReason());
    assertEquals(ErrorReason.ERROR_REASON_UNSPECIFIED, ArtimetaException.parseReason("UNIMPLEMENTED"));
    var async = assertThrows(CompletionException.class, () -> client.getNamespaceAsync(prefix + "-missing").join());
    assertEquals("NAMESPACE_NOT_FOUND", ((ArtimetaException.NotFound) async.getCause()).reason());
    var invalid = assertThrows(ArtimetaException.InvalidArgument.class, () -> client.createNamespace("", "", Map.of()));
    assertEquals("INVALID_NAME", invalid.reason());

    List<String> names = new ArrayList<>();
    for (int i = 0; i < 5; i++) {
      names.add(prefix + "-p" + i);
      client.createNamespace(prefix + "-p" + i, "", Map.of());
    }
    List<String> seen = new ArrayList<>();
    for (Namespace ns : client.listNamespaces(2)) {
      if (ns.getName().startsWith(prefix + "-p")) {
        seen.add(ns.getName());
      }
    }
    assertEquals(names, seen);

    for (String n : names) {
      assertTrue(client.deleteNamespace(n, false).getDeleted());
    }
    var gone = assertThrows(ArtimetaException.NotFound.class, () -> client.deleteNamespace(names.get(0), false));
    assertEquals("NAMESPACE_NOT_FOUND", gone.reason());
    assertFalse(client.deleteNamespace(names.get(0), true).getDeleted());
  }

  @Test
  void defaultDeadline() {
    try (ArtimetaClient hasty = ArtimetaClient.builder(TARGET).timeout(Duration.ofNanos(1000)).build()) {
      var late = assertThrows(ArtimetaException.DeadlineExceeded.class, () -> hasty.getNamespace("anything"));
      assertEquals("DEADLINE_EXCEEDED", late.reason());
    }
  }

  @Test
  void quickstartRuns() {
    PrintStream out = System.out;
    ByteArrayOutputStream captured = new ByteArrayOutputStream();
    System.setOut(new PrintStream(captured, true, StandardCharsets.UTF_8));
    try {
      Quickstart.main(new String[0]);
    } finally {
      System.setOut(out);
    }
    assertTrue(captured.toString(StandardCharsets.UTF_8).contains("NAMESPACE_NOT_FOUND"), captured.toString());
  }
}
