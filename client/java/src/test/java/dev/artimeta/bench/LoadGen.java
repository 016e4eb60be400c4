package dev.artimeta.bench;

import dev.artimeta.client.ArtimetaClient;
import dev.artimeta.v1.GetNamespaceRequest;
import dev.artimeta.v1.ReadSnapshotTagRequest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Calls one read RPC from many threads on one client for a fixed time and prints throughput and
 * latency as JSON (bench/clients.py compares it with the other clients). Arguments are key=value:
 * target, rpc (GetNamespace | ReadSnapshotTag), namespace, name, tag, concurrency, warmup_s, duration_s.
 */
public final class LoadGen {
  public static void main(String[] args) throws Exception {
    Map<String, String> a = new HashMap<>(Map.of("target", "127.0.0.1:50051", "rpc", "GetNamespace", "namespace", "",
        "name", "", "tag", "", "concurrency", "16", "warmup_s", "1", "duration_s", "5"));
    for (String arg : args) {
      String[] kv = arg.split("=", 2);
      a.put(kv[0], kv[1]);
    }
    int concurrency = Integer.parseInt(a.get("concurrency"));
    double duration = Double.parseDouble(a.get("duration_s"));
    try (ArtimetaClient client = ArtimetaClient.connect(a.get("target"))) {
      boolean tag = a.get("rpc").equals("ReadSnapshotTag");
      GetNamespaceRequest getNs = GetNamespaceRequest.newBuilder().setName(a.get("namespace")).build();
      ReadSnapshotTagRequest readTag = ReadSnapshotTagRequest.newBuilder().setNamespace(a.get("namespace"))
          .setName(a.get("name")).setTag(a.get("tag")).build();
      Runnable call = tag ? () -> client.connection().readSnapshotTag(readTag) : () -> client.namespaces().getNamespace(getNs);
      call.run();
      long start = System.nanoTime();
      long measureFrom = start + (long) (Double.parseDouble(a.get("warmup_s")) * 1e9);
      long end = measureFrom + (long) (duration * 1e9);
      List<long[]> perThread = Collections.synchronizedList(new ArrayList<>());
      int[] errors = new int[1];
      List<Thread> threads = new ArrayList<>();
      for (int t = 0; t < concurrency; t++) {
        Thread th = new Thread(() -> {
          long[] lat = new long[1 << 20];
          int n = 0;
          int bad = 0;
          while (true) {
            long t0 = System.nanoTime();
            if (t0 > end) {
              break;
            }
            boolean ok = true;
            try {
              call.run();
            } catch (RuntimeException e) {
              ok = false;
            }
            if (t0 > measureFrom) {
              if (!ok) {
                bad++;
              } else if (n < lat.length) {
                lat[n++] = System.nanoTime() - t0;
              }
            }
          }
          perThread.add(java.util.Arrays.copyOf(lat, n));
          synchronized (errors) {
            errors[0] += bad;
          }
        });
        threads.add(th);
        th.start();
      }
      // The client's own CPU time over the measured window: on shared cores it is taken from the server.
      com.sun.management.OperatingSystemMXBean os =
          (com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean();
      Thread.sleep(Math.max(0, (measureFrom - System.nanoTime()) / 1_000_000));
      long cpu0 = os.getProcessCpuTime();
      Thread.sleep(Math.max(0, (end - System.nanoTime()) / 1_000_000));
      double cpuSeconds = (os.getProcessCpuTime() - cpu0) / 1e9;
      for (Thread th : threads) {
        th.join();
      }
      long[] all = perThread.stream().flatMapToLong(java.util.Arrays::stream).sorted().toArray();
      double p50 = all.length == 0 ? 0 : all[(int) (0.5 * (all.length - 1))] / 1e6;
      double p99 = all.length == 0 ? 0 : all[(int) (0.99 * (all.length - 1))] / 1e6;
      System.out.printf(java.util.Locale.ROOT,
          "{\"client\": \"java\", \"rpc\": \"%s\", \"concurrency\": %d, \"seconds\": %.3f, \"calls\": %d, \"errors\": %d, "
              + "\"rps\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"client_cpu_s\": %.3f}%n",
          a.get("rpc"), concurrency, duration, all.length, errors[0], all.length / duration, p50, p99, cpuSeconds);
    }
  }
}
