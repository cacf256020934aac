"""The API simulator: our documented contract, or Commvault's own, served on loopback with faults.

It lets the probes be run, demonstrated and tested with no real IASO or CommServe:
``iaso-simulator`` starts it; ``--contract`` chooses the API it speaks (``iaso``, ours, or
``commvault``); a scenario (YAML file, or the admin endpoint while running) sets latency, HTTP
errors, malformed bodies, components down, rejected logins, hangs, job outcomes per endpoint or
host, and a seeded VM inventory with its own faults.
"""
