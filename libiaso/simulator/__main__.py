"""``iaso-simulator``: run the simulated API (ours or Commvault's) in the foreground until
interrupted."""
from __future__ import annotations

import signal
import sys
import threading
from typing import Optional

import click


@click.command("iaso-simulator", context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=int, help="0 picks a free port.")
@click.option("--contract", type=click.Choice(["iaso", "commvault"]), default="iaso",
              show_default=True, help="The API to speak: ours, or Commvault's own REST API.")
@click.option("--prefix", default=None,
              help="Path of the API's base (default /api/v1; commvault: /webconsole/api).")
@click.option("--scenario", "scenario_path", type=click.Path(dir_okay=False, exists=True),
              help="Scenario YAML file (faults, components, credentials, job outcomes).")
@click.option("--port-file", type=click.Path(dir_okay=False),
              help="Write the base URL here once listening (for scripts).")
@click.option("--tls-cert", type=click.Path(dir_okay=False, exists=True))
@click.option("--tls-key", type=click.Path(dir_okay=False, exists=True))
def main(host: str, port: int, contract: str, prefix: Optional[str],
         scenario_path: Optional[str],
         port_file: Optional[str], tls_cert: Optional[str], tls_key: Optional[str]) -> None:
    """Serve the documented IASO API contract (docs/api-contract.md), or Commvault's REST API
    (docs/contracts/commvault.md), with scripted faults and a seeded VM inventory.

    Admin API: PUT /_admin/scenario (YAML body), GET /_admin/counters, POST /_admin/reset.
    """
    import yaml

    from .scenario import ScenarioError, scenario_from
    from .server import Simulator

    try:
        data = None
        if scenario_path:
            with open(scenario_path, encoding="utf-8") as handle:
                data = yaml.safe_load(handle)
        scenario = scenario_from(data)
    except (ScenarioError, yaml.YAMLError, TypeError) as exc:
        raise click.UsageError(f"scenario {scenario_path}: {exc}") from None
    simulator = Simulator(scenario, prefix=prefix, contract=contract)
    tls = (tls_cert, tls_key) if tls_cert and tls_key else None
    url = simulator.start(host, port, tls)
    if port_file:
        with open(port_file, "w", encoding="utf-8") as handle:
            handle.write(url + "\n")
    click.echo(f"IASO simulator ({contract} contract) listening on {url}")
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    simulator.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
