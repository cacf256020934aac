"""The check_iaso_* Nagios plugins; each module is also runnable as a console script."""
import os
import sys

if sys.argv[:1] == ["-m"] or os.path.basename(sys.argv[0] if sys.argv else "").startswith(
        "check_iaso_"):
    # Started as a plugin: a stop signal during the imports is noted, then reported.
    from libiaso.deadline import catch_stops_early

    catch_stops_early()
