"""The results log (one JSON line per run) and iaso-report, which reads it."""
