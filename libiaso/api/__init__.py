"""The IASO API on the wire: the HTTP client and the reading of its answers."""
