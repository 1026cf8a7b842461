"""Correlation: links records into end-to-end transactions (exact ids, then scored matches) and
estimates client clock skew. Lands with the correlation issue; nothing here yet."""
