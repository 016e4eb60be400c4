"""Generated artimeta.v1 protobuf messages and gRPC stubs (see proto/artimeta/v1/)."""
