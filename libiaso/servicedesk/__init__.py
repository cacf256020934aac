"""From a core's notification to a service-desk ticket, and from the ticket back to the core.

``notification`` decides what a notification means for its ticket, ``ticket_key`` reads each
core's problem IDs, ``spool`` keeps what the desk has not taken yet, ``rt_rest`` and ``mail``
are the two intake paths, ``acknowledgement`` the way back, ``commands`` the programs.
"""
