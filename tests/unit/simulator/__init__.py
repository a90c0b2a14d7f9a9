"""Tests of the quota simulator (``quotaflow.simulator``)."""
