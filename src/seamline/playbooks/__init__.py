"""Playbooks: investigation templates that chain views into a report. Lands with the detection
issue; nothing here yet."""
