"""Detection: baselines, anomalies, alert rules and notifiers. Lands with the detection issue;
nothing here yet."""
