"""Adapters that make artimeta the backend of pipeline frameworks, one module per system;
each imports only its own system."""
