package dev.artimeta.examples;

import dev.artimeta.client.ArtimetaClient;
import dev.artimeta.client.ArtimetaException;
import dev.artimeta.v1.Namespace;
import java.util.Map;

public class Quickstart {
  public static void main(String[] args) {
    String target = System.getenv().getOrDefault("ARTIMETA_TARGET", "127.0.0.1:50051");
    try (ArtimetaClient client = ArtimetaClient.connect(target)) {
      String name = "team-a-" + ProcessHandle.current().pid();
      client.createNamespace(name, "", Map.of("owner", "data-eng"));
      for (Namespace ns : client.listNamespaces(100)) System.out.println(ns.getName() + " " + ns.getLabelsMap());
      try {
        client.getNamespace("nope");
      } catch (ArtimetaException.NotFound e) {
        System.out.println(e.reason()); // NAMESPACE_NOT_FOUND
      }
      client.deleteNamespace(name, false);
    }
  }
}
