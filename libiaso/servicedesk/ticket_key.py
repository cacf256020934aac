"""Which problem a notification belongs to: the core's problem ID, read the way each core
really passes it, so that one problem is one ticket and its recovery closes that ticket.

Nagios 4 and Naemon number problems: a new ID when an object leaves OK/UP, kept across
WARNING <-> CRITICAL, and a notification carries ``$SERVICEPROBLEMID$`` (or
``$HOSTPROBLEMID$``) and ``$LASTSERVICEPROBLEMID$``. What they hold at RECOVERY differs:

- Nagios 4.4 (services, observed in Debian's 4.4.6 and tests/test_servicedesk_nagios.py): the
  current ID still names the problem that is ending, the last ID the problem before it.
- Naemon (since 1.0, documented and in its checks code), Nagios 4 hosts, and the recovery Nagios
  sends after a flapping episode: the current ID is already cleared (0 or empty), the last ID
  names the problem that is ending.

So the current ID is the problem whenever it is set; only a notification that reports the
problem's end with the current ID cleared falls back to the last ID: a RECOVERY, or a flapping or
downtime notification that finds the object OK (the core sends no RECOVERY for a problem that
ended while flapping began or during a downtime; see ``notification.action_for``).

Icinga 2 has no problem ID. Its key is the service's ``last_state_ok`` (a host's
``last_state_up``): the time of the last OK check before the problem, which no later check of
the problem changes, through soft attempts, WARNING <-> CRITICAL and acknowledgements alike
(``last_hard_state_change`` and ``last_state_change`` move on each of those). At RECOVERY that
time is already the recovery's own, so a RECOVERY names no problem: it resolves the one open
ticket of its object (an object has one problem at a time, and notifications reach the desk in
order). See docs/service-desk.md.
"""
from __future__ import annotations

CLEARED = ("", "0")
ENDING = ("RECOVERY", "FLAPPINGSTART", "FLAPPINGSTOP", "FLAPPINGEND", "FLAPPINGDISABLED",
          "DOWNTIMEEND", "DOWNTIMECANCELLED")


def problem_of(core: str, kind: str, state: str, problem_id: str, last_problem_id: str) -> str:
    """The problem a notification of ``kind`` belongs to, as an opaque string ('' for none)."""
    kind = kind.strip().upper()
    problem_id = problem_id.strip()
    last_problem_id = last_problem_id.strip()
    ending = kind in ENDING and state.strip().upper() in ("OK", "UP")
    if core == "icinga2":
        return "" if ending else problem_id
    if problem_id not in CLEARED:
        return problem_id
    if ending and last_problem_id not in CLEARED:
        return last_problem_id
    return ""
