"""The HTTP client: TLS, re-login, redirects, size bounds, name resolution, secrets."""
from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any, Iterator, Tuple

import pytest
from certificates import Authority
from conftest import PASSWORD, play, write_config

from iaso_probes.check_iaso_life import probe as life
from libiaso.api.answers import jwt_lifetime
from libiaso.api.client import IasoClient
from libiaso.config.settings import load_config
from libiaso.deadline import Deadline
from libiaso.errors import ApiStatusError, BodyTooLarge, ConnectError, RedirectRefused, TlsError
from libiaso.simulator.scenario import scenario_from
from libiaso.simulator.server import Simulator


def client_for(config: Path, timeout: float = 10) -> IasoClient:
    return IasoClient(load_config(str(config)).environment(None), Deadline(timeout))


# --- TLS with a locally generated CA -----------------------------------------------------------

@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private CA and a server certificate valid for 127.0.0.1 (and one for localhost only)."""
    authority = Authority(tmp_path_factory.mktemp("pki"), "iaso-probes test CA")
    authority.issue("server", rsa_bits=2048)
    authority.issue("wronghost", hosts=("localhost",), rsa_bits=2048)
    return authority.directory


@pytest.fixture
def tls_simulator(pki: Path) -> Iterator[Simulator]:
    sim = Simulator()
    sim.start("127.0.0.1", 0, tls=(str(pki / "server.pem"), str(pki / "server.key")))
    yield sim
    sim.stop()


def test_crit_tls_untrusted_by_default(tls_simulator: Simulator, tmp_path: Path) -> None:
    config = write_config(tmp_path, tls_simulator.url)
    outcome = life.run(["-C", str(config)])
    assert outcome.code == 2
    assert "TLS failure with https://127.0.0.1:" in outcome.first_line
    assert "certificate not trusted" in outcome.first_line


def test_ok_tls_with_ca_bundle(tls_simulator: Simulator, tmp_path: Path, pki: Path) -> None:
    config = write_config(tmp_path, tls_simulator.url,
                          extra={"tls": {"ca_bundle": str(pki / "ca.pem")}})
    outcome = life.run(["-C", str(config)])
    assert outcome.code == 0, outcome.output


def test_crit_tls_certificate_for_another_host(pki: Path, tmp_path: Path) -> None:
    sim = Simulator()
    sim.start("127.0.0.1", 0, tls=(str(pki / "wronghost.pem"), str(pki / "wronghost.key")))
    try:
        config = write_config(tmp_path, sim.url, extra={"tls": {"ca_bundle": str(pki / "ca.pem")}})
        with pytest.raises(TlsError, match="TLS failure"):
            client_for(config).call("life")
    finally:
        sim.stop()


# --- authentication ----------------------------------------------------------------------------

def test_ok_expired_token_triggers_one_relogin(sim: Any, config: Path) -> None:
    play(sim, {"token_lifetime": 0.3})
    client = client_for(config)
    client.login()
    time.sleep(0.4)
    answer = client.call("backup", {"hostname": "vm-a", "level": "incremental"})
    assert answer.field("job_id", "id")
    assert sim.counters["login"] == 2 and sim.counters["backup"] == 2


def test_crit_persistent_401_relogs_in_exactly_once(sim: Any, config: Path) -> None:
    play(sim, {"endpoints": {"backup": {"status": 401}}})
    client = client_for(config)
    with pytest.raises(ApiStatusError) as caught:
        client.call("backup", {"hostname": "vm-a", "level": "full"})
    assert caught.value.status == 401
    assert sim.counters["login"] == 2 and sim.counters["backup"] == 2


def test_ok_jwt_lifetime_is_read_without_verification() -> None:
    token = "eyJhbGciOiJub25lIn0.eyJleHAiOjEwMDB9.sig"
    assert jwt_lifetime(token, now=400.0) == 600.0
    assert jwt_lifetime("opaque-token") is None
    assert jwt_lifetime("a.!!!.c") is None


# --- redirects never carry credentials elsewhere -----------------------------------------------

@pytest.fixture
def other_host() -> Iterator[Simulator]:
    other = Simulator(prefix="/api/v1")
    other.start("127.0.0.2", 0)
    yield other
    other.stop()


def test_crit_redirect_to_another_host_is_not_followed(sim: Any, config: Path,
                                                      other_host: Simulator) -> None:
    play(sim, {"endpoints": {"backup": {"redirect": other_host.url + "/backups"}}})
    client = client_for(config)
    with pytest.raises(RedirectRefused, match="another origin: not followed"):
        client.call("backup", {"hostname": "vm-a", "level": "full"})
    assert sum(other_host.counters.values()) == 0


def test_ok_redirect_within_the_same_origin_is_followed(sim: Any, config: Path) -> None:
    play(sim, {"endpoints": {"health": {"redirect": sim.url + "/life"}}})
    answer = client_for(config).call("health")
    assert answer.url.endswith("/life") and answer.document["statusCode"] == 200


# --- bounds and transport ----------------------------------------------------------------------

def test_crit_body_over_the_bound_is_not_read_whole(sim: Any, tmp_path: Path) -> None:
    play(sim, {"endpoints": {"life": {"body": "huge", "huge_bytes": 5_000_000}}})
    config = write_config(tmp_path, sim.url, extra={"max_body_bytes": 2048})
    with pytest.raises(BodyTooLarge, match="over the 2048-byte bound"):
        client_for(config).call("life")


def test_crit_name_that_does_not_resolve(sim: Any, tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    def no_such_name(host: str, *args: Any, **kwargs: Any) -> Tuple[Any, ...]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_name)  # no DNS server may be asked here
    config = write_config(tmp_path, "https://iaso.invalid/api/v1")
    outcome = life.run(["-C", str(config)])
    assert outcome.code == 2
    assert outcome.first_line.startswith("IASO LIFE CRITICAL - lab: cannot connect to "
                                         "https://iaso.invalid/api/v1/life: host name does not "
                                         "resolve")


def test_crit_connection_refused_is_a_connect_error(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = write_config(tmp_path, f"http://127.0.0.1:{port}/api/v1")
    with pytest.raises(ConnectError, match="connection refused"):
        client_for(config).call("life")


def test_ok_password_echoed_by_the_api_is_masked(sim: Any, config: Path) -> None:
    from iaso_probes.check_iaso_auth import probe as auth

    play(sim, {"endpoints": {"login": {"status": 500,
                                       "body": {"json": {"message": f"bad {PASSWORD}"}}}}})
    outcome = auth.run(["-C", str(config), "-vvv"])
    assert outcome.code == 2
    assert PASSWORD not in outcome.output and "bad ***" in outcome.output


def test_ok_simulator_scenario_rejects_unknown_keys() -> None:
    with pytest.raises(ValueError, match="unknown scenario keys: colour"):
        scenario_from({"colour": "blue"})
