"""Namespaces: the tenancy every other service is scoped by, and the name -> id resolution every
RPC starts with."""
