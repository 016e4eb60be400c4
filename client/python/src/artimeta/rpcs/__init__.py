"""Typed per-RPC methods of the client facade, generated from proto/ by scripts/gen-facade.py."""
