package dev.artimeta.client;

import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;

/** The conformance suites' connection to the live server the test harness started (ARTIMETA_TARGET). */
abstract class LiveServerTest {
  static ArtimetaClient client;

  @BeforeAll
  static void connect() {
    String target = System.getenv("ARTIMETA_TARGET");
    assumeTrue(target != null && !target.isEmpty(), "ARTIMETA_TARGET is not set: the conformance tests need a live server");
    client = ArtimetaClient.connect(target);
  }

  @AfterAll
  static void close() {
    if (client != null) {
      client.close();
      client = null;
    }
  }
}
