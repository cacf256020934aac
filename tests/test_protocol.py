"""HTTP and JSON as their specifications say, and values a probe can actually use.

Interim 1xx answers (RFC 9110 section 15.2) are skipped, only the final answer counts; a token
that cannot travel in a header (RFC 9110 section 5.5: no CR, LF or NUL) is refused at login;
numbers that JSON allows but no computation survives (1e400, 10**400) are the API's fault,
naming the field; TLS and connection failures are named from the exception chain.
"""
from __future__ import annotations

import base64
import errno
import json
import socket
import ssl
from pathlib import Path
from typing import Any, Iterator, List

import pytest
from conftest import play, write_config
from review_servers import RawServer

from iaso_probes.check_iaso_auth import probe as auth
from iaso_probes.check_iaso_life import probe as life
from libiaso.api.answers import Answer, field, job_status
from libiaso.api.transport import connect_reason, tls_reason
from libiaso.config.contracts import IASO
from libiaso.config.schema import Node
from libiaso.errors import WrongType

LIFE = b'{"statusCode": 200}'


def final(body: bytes = LIFE, status: str = "200 OK") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: "
            f"{len(body)}\r\nConnection: close\r\n\r\n").encode() + body


@pytest.fixture
def scripted() -> Iterator[List[RawServer]]:
    servers: List[RawServer] = []
    yield servers
    for server in servers:
        server.close()


@pytest.mark.parametrize("interim", [
    b"HTTP/1.1 100 Continue\r\n\r\n",
    b"HTTP/1.1 102 Processing\r\n\r\n",
    b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n",
    b"HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 102 Processing\r\n\r\n"
    b"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\nLink: </b>\r\n\r\n",
], ids=["100", "102", "103", "several"])
def test_ok_interim_answers_before_the_final_one_are_skipped(interim: bytes, scripted: Any,
                                                           tmp_path: Path) -> None:
    server = RawServer(answer=interim + final())
    scripted.append(server)
    outcome = life.run(["-C", str(write_config(tmp_path, server.url)), "-t", "4"])
    assert outcome.code == 0, outcome.output


def test_crit_endless_interim_answers_are_bounded(scripted: Any, tmp_path: Path) -> None:
    server = RawServer(answer=b"HTTP/1.1 103 Early Hints\r\n\r\n" * 500 + final())
    scripted.append(server)
    outcome = life.run(["-C", str(write_config(tmp_path, server.url)), "-t", "4"])
    assert outcome.code == 2 and "HTTP 103" in outcome.first_line, outcome.output


@pytest.mark.parametrize("token", ["abc\r\nX-Injected: 1", "abc\ndef", "abc\x00def",
                                   " leading-space", "t\u00f6ken", "x" * 20000, "tab\there"])
def test_crit_token_that_cannot_travel_in_a_header_is_refused_at_login(
        token: str, sim: Any, config: Path) -> None:
    play(sim, {"endpoints": {"login": {"body": {"json": {"token": token, "expiresIn": 60}}}}})
    outcome = auth.run(["-C", str(config)])
    assert outcome.code == 2, outcome.output
    assert "unusable token" in outcome.first_line and "X-Injected" not in outcome.output


@pytest.mark.parametrize("raw", [
    '{"token": "abc", "expiresIn": 1e400}',
    '{"token": "abc", "expiresIn": -1e400}',
    '{"token": "abc", "expiresIn": 1' + "0" * 400 + '}',
    '{"token": "abc", "expiresIn": 1e300}',
], ids=["inf", "minus-inf", "huge-int", "huge-float"])
def test_crit_expiry_out_of_range_names_the_field(raw: str, sim: Any, config: Path) -> None:
    play(sim, {"endpoints": {"login": {"body": {"raw": raw}}}})
    outcome = auth.run(["-C", str(config)])
    assert outcome.code == 2, outcome.output
    assert "'expiresIn'" in outcome.first_line and "finite number" in outcome.first_line


@pytest.mark.parametrize("exp", ["1e400", "1" + "0" * 400, "-1e400"])
def test_crit_jwt_expiry_out_of_range_is_critical(exp: str, sim: Any, config: Path) -> None:
    claims = base64.urlsafe_b64encode(f'{{"exp": {exp}}}'.encode()).decode().rstrip("=")
    token = f"eyJhbGciOiJub25lIn0.{claims}.sig"
    play(sim, {"endpoints": {"login": {"body": {"json": {"token": token}}}}})
    outcome = auth.run(["-C", str(config)])
    assert outcome.code == 2, outcome.output
    assert "exp claim" in outcome.first_line


def _status_answer(document: Any) -> Answer:
    from libiaso.config.profile import parse_profile

    profile = parse_profile(Node(IASO, "test"), version=2)
    return Answer(profile.endpoint("job_status"), "http://h/jobs/status", 200, 0.1, 10, document)


@pytest.mark.parametrize("name,value", [("elapsedSeconds", float("inf")),
                                        ("elapsedSeconds", 10 ** 400),
                                        ("percentComplete", float("nan"))])
def test_crit_job_numbers_out_of_range_name_the_field(name: str, value: Any) -> None:
    document = {"jobId": 7, "hostname": "vm-a", "status": "Running", name: value}
    with pytest.raises(WrongType) as caught:
        job_status(_status_answer(document), 7, "vm-a")
    assert caught.value.field == name


def test_ok_finite_numbers_in_range_are_taken() -> None:
    document = json.loads('{"a": 1e14, "b": -3, "c": 0.5}')
    assert [field(document, k, "number") for k in "abc"] == [1e14, -3, 0.5]


# --- reasons come from types and codes, not from message text ---------------------------------


def _verify_error(code: int) -> ssl.SSLCertVerificationError:
    error = ssl.SSLCertVerificationError(1, "a message reworded by some upgrade")
    error.verify_code = code
    error.verify_message = "reworded"
    return error


@pytest.mark.parametrize("code,reason", [(10, "certificate expired"),
                                         (18, "self-signed certificate"),
                                         (62, "certificate does not match the host name"),
                                         (20, "certificate not trusted (issuer unknown)")])
def test_crit_tls_reason_from_the_verify_code(code: int, reason: str) -> None:
    wrapper = RuntimeError("wrapped")
    wrapper.__cause__ = _verify_error(code)
    assert tls_reason(wrapper) == reason


def test_crit_tls_reason_from_the_openssl_reason_name() -> None:
    error = ssl.SSLError(1, "some text")
    error.reason = "WRONG_VERSION_NUMBER"
    assert tls_reason(error) == "server does not speak TLS"


@pytest.mark.parametrize("cause,reason", [
    (ConnectionRefusedError(errno.ECONNREFUSED, "x"), "connection refused"),
    (OSError(errno.EHOSTUNREACH, "x"), "no route to host"),
    (OSError(errno.ENETUNREACH, "x"), "network unreachable"),
    (socket.gaierror(socket.EAI_NONAME, "x"), "host name does not resolve"),
])
def test_crit_connect_reason_from_the_exception_chain(cause: BaseException, reason: str) -> None:
    outer = RuntimeError("Max retries exceeded (words that may change)")
    outer.reason = cause  # type: ignore[attr-defined]  # as urllib3's MaxRetryError carries it
    assert connect_reason(outer) == reason


@pytest.mark.parametrize("key", ["ca_bundle", "client_cert"])
def test_unknown_missing_tls_file_is_named(key: str, sim: Any, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "file.pem"
    config = write_config(tmp_path, sim.url.replace("http://", "https://"),
                          extra={"tls": {key: str(missing)}})
    outcome = life.run(["-C", str(config), "-vvv"])
    assert outcome.code == 3, outcome.output
    assert str(missing) in outcome.first_line and f"tls.{key}" in outcome.first_line
