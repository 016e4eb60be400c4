"""Request ids (AIP-155): a mutation that is not naturally idempotent runs at most once per
(namespace, method, request_id), however often its caller retries it."""
