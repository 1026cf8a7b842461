"""Governance: retention, erasure, schema history and drift, data quality reports."""
