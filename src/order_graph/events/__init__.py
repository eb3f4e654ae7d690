"""The change-event log and its delivery to subscribers."""
