"""Views: named, documented queries over the store (latency, failures, impact, waterfall).
Lands with the views issue; nothing here yet."""
