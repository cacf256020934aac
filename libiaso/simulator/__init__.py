"""The IASO simulator: our documented API contract served on loopback, with scripted faults.

It lets the probes be run, demonstrated and tested with no real IASO: ``iaso-simulator`` starts
it; a scenario (YAML file, or the admin endpoint while running) sets latency, HTTP errors,
malformed bodies, components down, rejected logins, hangs and job outcomes per endpoint or host.
"""
