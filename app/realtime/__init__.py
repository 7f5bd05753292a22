"""Realtime channels over Server-Sent Events, fed by PostgreSQL LISTEN/NOTIFY, resumable by Last-Event-ID."""
