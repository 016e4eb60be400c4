package dev.artimeta.client;

import com.google.protobuf.Descriptors;
import com.google.protobuf.Message;
import dev.artimeta.v1.BlobServiceGrpc;
import dev.artimeta.v1.CacheServiceGrpc;
import dev.artimeta.v1.ConnectionServiceGrpc;
import dev.artimeta.v1.NamespaceServiceGrpc;
import dev.artimeta.v1.OpStoreServiceGrpc;
import dev.artimeta.v1.OptionsProto;
import dev.artimeta.v1.RecordServiceGrpc;
import dev.artimeta.v1.RetryClass;
import dev.artimeta.v1.TagServiceGrpc;
import io.grpc.ServiceDescriptor;
import io.grpc.protobuf.ProtoServiceDescriptorSupplier;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.UUID;

/**
 * Which calls the client may retry, read from the proto's {@code artimeta.v1.retry} method option
 * at runtime: reads and idempotent writes are retried on UNAVAILABLE; a mutation with a
 * request_id gets one filled in once per logical call, which gRPC's retries resend; anything else
 * is not retried. The Python, Go and TypeScript clients read the same option.
 */
public final class RetryClasses {
  public static final String READ = "READ";
  public static final String IDEMPOTENT = "IDEMPOTENT";
  public static final String REQUEST_ID = "REQUEST_ID";
  public static final String NONE = "NONE";
  static final String REQUEST_ID_FIELD = "request_id";

  private static final Map<String, String> TABLE = load();

  private RetryClasses() {}

  private static Map<String, String> load() {
    Map<String, String> table = new TreeMap<>();
    for (ServiceDescriptor service : List.of(
        BlobServiceGrpc.getServiceDescriptor(),
        CacheServiceGrpc.getServiceDescriptor(),
        ConnectionServiceGrpc.getServiceDescriptor(),
        NamespaceServiceGrpc.getServiceDescriptor(),
        OpStoreServiceGrpc.getServiceDescriptor(),
        RecordServiceGrpc.getServiceDescriptor(),
        TagServiceGrpc.getServiceDescriptor())) {
      Descriptors.ServiceDescriptor proto =
          ((ProtoServiceDescriptorSupplier) service.getSchemaDescriptor()).getServiceDescriptor();
      for (Descriptors.MethodDescriptor m : proto.getMethods()) {
        RetryClass cls = m.getOptions().getExtension(OptionsProto.retry);
        table.put("/" + proto.getFullName() + "/" + m.getName(), cls.name().substring("RETRY_CLASS_".length()));
      }
    }
    return Collections.unmodifiableMap(table);
  }

  /** "/artimeta.v1.Service/Method" to READ, IDEMPOTENT, REQUEST_ID or NONE, for every RPC. */
  public static Map<String, String> all() {
    return TABLE;
  }

  /** The gRPC service config names of every RPC that is retried. */
  static List<Map<String, String>> retriedNames() {
    List<Map<String, String>> names = new ArrayList<>();
    TABLE.forEach((path, cls) -> {
      if (!cls.equals(NONE)) {
        int slash = path.lastIndexOf('/');
        names.add(Map.of("service", path.substring(1, slash), "method", path.substring(slash + 1)));
      }
    });
    return names;
  }

  /** The request, with a fresh request_id when the RPC takes one and the caller gave none. */
  @SuppressWarnings("unchecked")
  static <Q> Q withRequestId(String fullMethodName, Q request) {
    if (!REQUEST_ID.equals(TABLE.get("/" + fullMethodName)) || !(request instanceof Message msg)) {
      return request;
    }
    Descriptors.FieldDescriptor field = msg.getDescriptorForType().findFieldByName(REQUEST_ID_FIELD);
    if (field == null || !((String) msg.getField(field)).isEmpty()) {
      return request;
    }
    return (Q) msg.toBuilder().setField(field, UUID.randomUUID().toString()).build();
  }
}
