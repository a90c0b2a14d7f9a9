"""Unit tests of quotaflow.observability."""
