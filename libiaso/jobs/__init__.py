"""Backup and restore jobs: launching, following, judging, and their state between runs."""
