"""Adapters to Postgres and S3 implementing the ports of domain/."""
