"""Credentials never reach another host, whatever a Location header says.

The origin of each hop is read by the parser of the library that connects (urllib3), so a
Location that one URL parser reads as our own origin and another as a foreign one can never
carry the password (login) or the bearer token (backup) away. Each Location below was written
to confuse parsers (RFC 3986 vs the WHATWG URL standard vs urllib3); a catcher server on every
address they could point to records any connection at all.
"""
from __future__ import annotations

import socket
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from conftest import PASSWORD, play
from review_servers import RawServer

from iaso_probes.check_iaso_auth import probe as auth
from iaso_probes.check_iaso_backup import probe as backup


@pytest.fixture
def catchers() -> Iterator[Any]:
    found = {"v4": RawServer("127.0.0.2"), "v6": RawServer("::1", socket.AF_INET6)}
    yield found
    for catcher in found.values():
        catcher.close()


def locations(own: str, port4: int, port6: int) -> List[str]:
    """Redirect targets that are not our origin, though some parser may read them so."""
    return [
        f"http://127.0.0.2:{port4}\\@{own}/api/v1/login",          # backslash before userinfo
        f"http://127.0.0.2:{port4}\\\\@{own}/api/v1/login",
        f"http://{own}@127.0.0.2:{port4}/api/v1/login",            # our origin as userinfo
        f"http://{own}:@127.0.0.2:{port4}/",
        f"http://127.0.0.2:{port4}#@{own}/",                       # fragment hides the host
        f"http://127.0.0.2:{port4}?@{own}/",
        f"http://127.0.0.2:{port4}%2f@{own}/",                     # percent-encoded slash
        f"http://127.0.0.2%3a{port4}/",                            # percent-encoded colon
        f"http://%31%32%37.0.0.2:{port4}/",                        # percent-encoded host
        f"http://127.0.0.2:{port4}\t@{own}/",                      # tab in the authority
        f"http:\\\\127.0.0.2:{port4}/",                            # WHATWG reads \\ as //
        f"http:/\\127.0.0.2:{port4}/",
        f"//127.0.0.2:{port4}/api/v1/login",                       # scheme-relative
        f"http://[::1]:{port6}/api/v1/login",                      # IPv6 literal
        f"http://[::1%25lo]:{port6}/",                             # IPv6 zone id
        f"http://[::ffff:127.0.0.2]:{port4}/",                     # IPv4-mapped IPv6
        f"http://127\u30020\u30020\u30022:{port4}/",                # ideographic full stops
        f"http://\uff11\uff12\uff17.0.0.2:{port4}/",               # fullwidth digits (IDN)
        f"HTTP://127.0.0.2:{port4}/",
        f"https://127.0.0.2:{port4}/",
        f"http://0x7f.0.0.2:{port4}/",                              # hexadecimal IPv4
        f"http://2130706434:{port4}/",                              # 127.0.0.2 as one number
    ]


def _location_cases() -> List[str]:
    return [f"case{index}" for index in range(len(locations("h:1", 1, 2)))]


@pytest.mark.parametrize("status", [307, 308, 302])
@pytest.mark.parametrize("index", range(len(_location_cases())), ids=_location_cases())
def test_crit_login_redirect_never_carries_the_password_away(
        index: int, status: int, sim: Any, config: Path, catchers: Any) -> None:
    own = sim.url.split("/")[2]
    target = locations(own, catchers["v4"].port, catchers["v6"].port)[index]
    play(sim, {"endpoints": {"login": {"redirect": target, "redirect_status": status}}})
    outcome = auth.run(["-C", str(config), "-t", "5"])
    assert outcome.code == 2, outcome.output
    assert outcome.first_line.startswith("IASO AUTH CRITICAL - lab: ")
    assert catchers["v4"].received == [] and catchers["v6"].received == [], target
    assert PASSWORD not in outcome.output


@pytest.mark.parametrize("index", range(len(_location_cases())), ids=_location_cases())
def test_crit_backup_redirect_never_carries_the_token_away(
        index: int, sim: Any, tmp_path: Path, config: Path, catchers: Any) -> None:
    own = sim.url.split("/")[2]
    target = locations(own, catchers["v4"].port, catchers["v6"].port)[index]
    play(sim, {"endpoints": {"backup": {"redirect": target, "redirect_status": 307}}})
    outcome = backup.run(["-C", str(config), "-H", "vm-a", "--wait", "-t", "5"])
    assert outcome.code == 2, outcome.output
    assert catchers["v4"].received == [] and catchers["v6"].received == [], target
    assert not any(token in outcome.output for token in sim.issued)


class RawRedirector(RawServer):
    """Answers every request with a redirect whose Location is written byte for byte, so that
    bytes a header API would refuse (CR, bare LF, NUL, 8-bit) reach the client as they are."""

    def __init__(self, location: bytes) -> None:
        self.location = location
        super().__init__()

    def reply(self) -> bytes:
        return (b"HTTP/1.1 307 Temporary Redirect\r\nLocation: " + self.location
                + b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")


@pytest.mark.parametrize("raw", [
    b"http://127.0.0.2:{p}\r@127.0.0.1:{own}/",
    b"http://127.0.0.2:{p}\n@127.0.0.1:{own}/",
    b"http://127.0.0.1:{own}\x00@127.0.0.2:{p}/",
    b"http://127.0.0.2:{p}\xff@127.0.0.1:{own}/",
    b"http://127.0.0.2:{p} @127.0.0.1:{own}/",
], ids=["cr", "lf", "nul", "8bit", "space"])
def test_crit_raw_location_bytes_never_carry_the_password_away(raw: bytes, tmp_path: Path,
                                                              catchers: Any) -> None:
    from conftest import write_config

    server = RawRedirector(b"")
    try:
        server.location = raw.replace(b"{p}", str(catchers["v4"].port).encode()).replace(
            b"{own}", str(server.port).encode())
        config = write_config(tmp_path, f"http://127.0.0.1:{server.port}/api/v1")
        outcome = auth.run(["-C", str(config), "-t", "4"])
    finally:
        server.close()
    assert outcome.code == 2, outcome.output
    assert catchers["v4"].received == []
    assert PASSWORD not in outcome.output


def test_ok_same_origin_redirect_on_login_is_followed(sim: Any, config: Path) -> None:
    play(sim, {"endpoints": {"login": {"redirect": sim.url + "/login", "redirect_status": 307}}})
    outcome = auth.run(["-C", str(config), "-t", "5"])
    # the simulator redirects every login: the client follows within the origin up to its bound
    assert outcome.code == 2 and "more than 5 redirects" in outcome.output, outcome.output
    assert sim.counters["login"] == 6
