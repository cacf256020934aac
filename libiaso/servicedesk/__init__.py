"""From a core's notification to a service-desk ticket, and from the ticket back to the core.

``intake`` reads what a core passed, ``notification`` decides what it means for its ticket,
``ticket_key`` reads each core's problem IDs, ``spool`` keeps what the desk has not taken yet
(``held`` what came while the configuration could not be read), ``rt_rest`` and ``mail`` are
the two intake paths, ``wire`` their HTTP (and Icinga 2's), ``acknowledgement`` the way back;
``notify``, ``flush`` and ``sync`` are the programs (``commands``, as installed), ``program``
what they share.
"""
import os
import sys

if sys.argv[:1] == ["-m"] or os.path.basename(sys.argv[0] if sys.argv else "").startswith(
        "iaso-servicedesk-"):
    # Started as a program: a stop signal during the imports is noted, then reported.
    from ..deadline import catch_stops_early

    catch_stops_early()
