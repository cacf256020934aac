"""The check_iaso_* Nagios plugins; each module is also runnable as a console script."""
