"""Version 5: what detection finds and what people make of it — anomalies, alerts, annotations.

Anomalies are derived (re-detected from the facts at any time); alerts are the history of
what fired and whom it told; annotations are people's findings tagged to a product area,
feature, experiment or release, shown on charts.
"""

VERSION = 5
NAME = "anomalies, alerts, alert_notifications, annotations"

UP = [
    """
    CREATE TABLE anomalies (
        anomaly_id VARCHAR NOT NULL PRIMARY KEY,
        metric VARCHAR NOT NULL,
        scope VARCHAR NOT NULL,
        start_ts TIMESTAMPTZ NOT NULL,
        end_ts TIMESTAMPTZ,
        detected_at TIMESTAMPTZ NOT NULL,
        observed DOUBLE,
        expected DOUBLE,
        score DOUBLE,
        volume BIGINT,
        classification VARCHAR,
        segment VARCHAR,
        service VARCHAR,
        cohorts VARCHAR,
        signals VARCHAR,
        detect_run_id VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE alerts (
        alert_id VARCHAR NOT NULL PRIMARY KEY,
        rule VARCHAR NOT NULL,
        fingerprint VARCHAR NOT NULL,
        severity VARCHAR NOT NULL,
        state VARCHAR NOT NULL,
        metric VARCHAR NOT NULL,
        scope VARCHAR NOT NULL,
        value DOUBLE,
        threshold DOUBLE,
        summary VARCHAR NOT NULL,
        started_at TIMESTAMPTZ NOT NULL,
        last_seen_at TIMESTAMPTZ NOT NULL,
        resolved_at TIMESTAMPTZ,
        anomaly_id VARCHAR,
        playbook VARCHAR,
        condition VARCHAR NOT NULL,
        fired_at TIMESTAMPTZ,
        segment VARCHAR,
        details VARCHAR
    )
    """,
    "CREATE INDEX alerts_fingerprint ON alerts (fingerprint)",
    """
    CREATE TABLE alert_notifications (
        alert_id VARCHAR NOT NULL,
        notifier VARCHAR NOT NULL,
        sent_at TIMESTAMPTZ NOT NULL,
        attempt INTEGER NOT NULL,
        ok BOOLEAN NOT NULL,
        detail VARCHAR,
        event VARCHAR NOT NULL
    )
    """,
    """
    CREATE TABLE annotations (
        annotation_id VARCHAR NOT NULL PRIMARY KEY,
        kind VARCHAR NOT NULL,
        target VARCHAR NOT NULL,
        title VARCHAR NOT NULL,
        body VARCHAR,
        start_ts TIMESTAMPTZ NOT NULL,
        end_ts TIMESTAMPTZ,
        scope VARCHAR,
        author VARCHAR,
        alert_id VARCHAR,
        created_at TIMESTAMPTZ NOT NULL
    )
    """,
]

DOWN = [
    "DROP TABLE annotations",
    "DROP TABLE alert_notifications",
    "DROP INDEX IF EXISTS alerts_fingerprint",
    "DROP TABLE alerts",
    "DROP TABLE anomalies",
]

# Anomalies are re-detected from the facts; alert history and annotations are people's record.
DATA_DROPPED = [("annotations", None), ("alert_notifications", None), ("alerts", None), ("anomalies", None)]
