"""Fixtures for the integration suites: PostgreSQL schemas (from the store suite's conftest)."""

from tests.store.conftest import pg_schema, postgres_url

__all__ = ["pg_schema", "postgres_url"]
