"""libiaso: the shared library of the iaso-probes Nagios plugins for the IASO backup API."""

__version__ = "0.1.0"
