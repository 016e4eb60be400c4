package dev.artimeta.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.artimeta.v1.GetTagsRequest;
import dev.artimeta.v1.RecordTagsRequest;
import io.grpc.internal.JsonParser;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The client's retry table against the one Python reads from the same proto (ARTIMETA_RETRY_TABLE,
 * written by tests/clients/conformance.py), and request_id filling.
 */
class RetryClassesConformanceTest {
  @Test
  void retryClassesMatchTheProtosTable() throws Exception {
    String file = System.getenv("ARTIMETA_RETRY_TABLE");
    Assumptions.assumeTrue(file != null && !file.isEmpty(), "ARTIMETA_RETRY_TABLE is not set");
    @SuppressWarnings("unchecked")
    Map<String, ?> want = (Map<String, ?>) JsonParser.parse(Files.readString(Path.of(file)));
    assertEquals(new TreeMap<>(want), new TreeMap<>(RetryClasses.all()));
    long retried = want.values().stream().filter(c -> !RetryClasses.NONE.equals(c)).count();
    assertEquals(retried, RetryClasses.retriedNames().size());
  }

  @Test
  void requestIdIsFilledOnlyWhereTakenAndKeptWhenGiven() {
    RecordTagsRequest bare = RecordTagsRequest.newBuilder().setNamespace("n").build();
    RecordTagsRequest filled = RetryClasses.withRequestId("artimeta.v1.TagService/RecordTags", bare);
    assertTrue(filled.getRequestId().matches("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"));
    assertNotEquals(filled.getRequestId(), RetryClasses.<RecordTagsRequest>withRequestId(
        "artimeta.v1.TagService/RecordTags", bare).getRequestId());
    RecordTagsRequest given = bare.toBuilder().setRequestId("3b241101-e2bb-4255-8caf-4136c566a962").build();
    assertSame(given, RetryClasses.withRequestId("artimeta.v1.TagService/RecordTags", given));
    GetTagsRequest read = GetTagsRequest.newBuilder().setNamespace("n").build();
    assertSame(read, RetryClasses.withRequestId("artimeta.v1.TagService/GetTags", read));
  }
}
