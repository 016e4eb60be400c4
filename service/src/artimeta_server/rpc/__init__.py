"""Servicers: validate, convert proto <-> domain, call the domain. The only layer that sees gRPC."""
