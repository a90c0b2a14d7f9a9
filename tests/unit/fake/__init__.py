"""Tests of the fake provider (``quotaflow.fake``)."""
