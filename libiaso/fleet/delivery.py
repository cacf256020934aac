"""Handing passive results to the core, by one of its documented routes.

- ``SpoolDirectory``: the check-results spool of Nagios 4 and Naemon (``check_result_path``).
  All results go in one file, written under a name the core's reaper ignores, linked in as
  ``c`` and six characters (never over another file), then an empty ``.ok`` sibling says it is
  complete: the core never reads half a file. Newlines and backslashes are escaped as the core
  unescapes them; a value never ends with a backslash (the reader would join the next line).
- ``CommandFile``: the external command FIFO, one ``PROCESS_SERVICE_CHECK_RESULT`` line per
  result. Lines are written whole, several to a write but never more than ``PIPE_BUF`` bytes,
  so writers never interleave inside a line; a line that would be longer loses long-output
  lines, then characters. The texts hold no ';' (passive.py), the perfdata its own.
- ``Icinga2Api``: ``POST /v1/actions/process-check-result`` of Icinga 2's API, one object a
  call (the API has no bulk call), on a few keep-alive connections at once; the server's
  certificate verified (against ``ca_file``, or the system's), no redirect followed, the
  password read from its file and never shown.

A route that cannot be used at all raises ``DeliveryError`` (UNKNOWN: ours to fix). Results the
core refuses one by one (an object it does not have) are returned as refused; results not
tried before the deadline are returned as left, for the next run.

Each route says how much of the deadline it starts no step within (``floor``); the collector
keeps ``time_needed`` back from the listing for it (the floor and a fair share of -t to work in),
and results left count against the core only when the delivery began with at least the floor
and half that share (``given_its_time``): below it, the probe's earlier steps used the time.
"""
from __future__ import annotations

import errno
import os
import secrets
import select
import stat
import string
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any, Dict, List, NamedTuple, Optional, Protocol, Sequence, Set, Tuple

from ..api.transport import connect_reason, tls_reason
from ..config.fleet_settings import DeliverySettings, Icinga2Settings
from ..deadline import Deadline
from ..errors import DeliveryError
from ..local_files import open_pipe_writer
from ..redaction import Redactor
from .passive import PassiveResult

RESERVE = 0.5   # seconds of the deadline no delivery step may use


class Delivered(NamedTuple):
    sent: List[PassiveResult]
    refused: List[Tuple[PassiveResult, str]]
    left: List[PassiveResult]


class Route(Protocol):
    name: str

    def deliver(self, results: Sequence[PassiveResult], deadline: Deadline,
                now: float) -> Delivered:
        """Hand ``results`` to the core; ``now`` is the results' time (epoch seconds)."""

    def floor(self, deadline: Deadline) -> float:
        """Seconds of ``deadline`` under which the route starts no delivery step."""


def time_needed(route: Route, deadline: Deadline) -> float:
    """Seconds of ``deadline`` the delivery must still have when it begins: its floor, and a
    fair share of -t to hand results over in. The collector keeps at least this back from the
    listing."""
    return route.floor(deadline) + deadline.fair_share()


def given_its_time(route: Route, deadline: Deadline, given: float) -> bool:
    """Whether a delivery that began with ``given`` seconds left had time enough for the
    results it left to count against the core: its floor and half a fair share to work in.
    Less, and the probe's own earlier steps (listing, judging) used the time."""
    return given >= route.floor(deadline) + deadline.fair_share() / 2


def nagios_escaped(text: str) -> str:
    """A value for a Nagios spool record or command: backslashes and newlines escaped as the
    core unescapes them, and never a backslash last."""
    if text.endswith("\\"):
        text = text[:-1] + "/"
    return text.replace("\\", "\\\\").replace("\n", "\\n")


# --- the check-results spool -------------------------------------------------------------------


class SpoolDirectory:
    name = "spool"

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def floor(self, deadline: Deadline) -> float:
        return RESERVE

    def deliver(self, results: Sequence[PassiveResult], deadline: Deadline,
                now: float) -> Delivered:
        if not results:
            return Delivered([], [], [])
        self._check()
        stamp = f"{int(now)}.{int(now % 1 * 1e6):06d}"
        with deadline.held():
            temporary = os.path.join(self.directory,
                                     f".iaso-fleet-{os.getpid()}-{secrets.token_hex(4)}.tmp")
            try:
                with open(temporary, "x", encoding="utf-8") as handle:
                    handle.write(f"### Active Check Result File ###\nfile_time={int(now)}\n\n")
                    batch: List[str] = []
                    for result in results:
                        batch.append(self._record(result, stamp))
                        if len(batch) >= 1000:
                            handle.write("".join(batch))
                            batch = []
                    handle.write("".join(batch))
                os.chmod(temporary, 0o644)
                name = self._link(temporary)
                with open(name + ".ok", "x"):
                    pass
            except OSError as exc:
                raise DeliveryError(f"the check-results spool {self.directory} did not take "
                                    f"the results: {exc.strerror}", route=self.name) from None
            finally:
                try:
                    os.unlink(temporary)
                except OSError:
                    pass
        return Delivered(list(results), [], [])

    def _check(self) -> None:
        try:
            mode = os.stat(self.directory).st_mode
        except OSError as exc:
            raise DeliveryError(f"the check-results spool {self.directory} cannot be used: "
                                f"{exc.strerror}", route=self.name) from None
        if not stat.S_ISDIR(mode) or not os.access(self.directory, os.W_OK | os.X_OK):
            raise DeliveryError(f"the check-results spool {self.directory} is not a directory "
                                "this user may write in", route=self.name)

    def _link(self, temporary: str) -> str:
        """Link the file in as ``c`` + 6 characters, never over an existing file."""
        alphabet = string.ascii_letters + string.digits
        for _ in range(100):
            name = os.path.join(self.directory,
                                "c" + "".join(secrets.choice(alphabet) for _ in range(6)))
            try:
                os.link(temporary, name)
                return name
            except FileExistsError:
                continue
        raise OSError(errno.EEXIST, "no free check-result file name")

    @staticmethod
    def _record(result: PassiveResult, stamp: str) -> str:
        return ("### Nagios Service Check Result ###\n"
                f"host_name={result.host}\nservice_description={result.service}\n"
                "check_type=1\ncheck_options=0\nscheduled_check=0\nreschedule_check=0\n"
                f"latency=0.0\nstart_time={stamp}\nfinish_time={stamp}\nearly_timeout=0\n"
                f"exited_ok=1\nreturn_code={int(result.state)}\n"
                f"output={nagios_escaped(result.plugin_output())}\n\n")


# --- the external command file -----------------------------------------------------------------


class CommandFile:
    name = "command_file"

    def __init__(self, path: str) -> None:
        self.path = path

    def floor(self, deadline: Deadline) -> float:
        return RESERVE     # _write gives up there

    def deliver(self, results: Sequence[PassiveResult], deadline: Deadline,
                now: float) -> Delivered:
        if not results:
            return Delivered([], [], [])
        fd = self._open()
        sent: List[PassiveResult] = []
        try:
            pending: List[PassiveResult] = []
            buffer = b""
            for result in results:
                line = self.line(result, now)
                if len(buffer) + len(line) > select.PIPE_BUF:
                    if not self._write(fd, buffer, deadline):
                        return Delivered(sent, [], list(results[len(sent):]))
                    sent.extend(pending)
                    pending, buffer = [], b""
                buffer += line
                pending.append(result)
            if buffer and self._write(fd, buffer, deadline):
                sent.extend(pending)
            return Delivered(sent, [], list(results[len(sent):]))
        finally:
            os.close(fd)

    def _open(self) -> int:
        try:
            return open_pipe_writer(self.path)
        except OSError as exc:
            reason = ("no core reads it (is the core running?)" if exc.errno == errno.ENXIO
                      else exc.strerror)
            raise DeliveryError(f"the command file {self.path} cannot be written: {reason}",
                                route=self.name) from None

    def _write(self, fd: int, data: bytes, deadline: Deadline) -> bool:
        """Write ``data`` (at most PIPE_BUF bytes: all or nothing) before the deadline."""
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        while True:
            remaining = deadline.remaining() - RESERVE
            if remaining <= 0:
                return False
            if not poller.poll(remaining * 1000):
                continue
            try:
                os.write(fd, data)
                return True
            except BlockingIOError:
                time.sleep(0.01)
            except OSError as exc:
                raise DeliveryError(f"the command file {self.path} stopped taking results: "
                                    f"{exc.strerror}", route=self.name) from None

    @staticmethod
    def line(result: PassiveResult, now: float) -> bytes:
        """One command line within PIPE_BUF bytes, long output dropped first if need be."""
        long = list(result.long)
        while True:
            text = result._replace(long=tuple(long)).plugin_output()
            line = (f"[{int(now)}] PROCESS_SERVICE_CHECK_RESULT;{result.host};{result.service};"
                    f"{int(result.state)};{nagios_escaped(text)}\n").encode()
            if len(line) <= select.PIPE_BUF:
                return line
            if long:
                long.pop()
                continue
            return line[:select.PIPE_BUF - 1].decode("utf-8", "ignore").rstrip(
                "\\").encode("utf-8") + b"\n"


# --- Icinga 2's API ----------------------------------------------------------------------------


class Icinga2Api:
    name = "icinga2"

    def __init__(self, settings: Icinga2Settings, redactor: Redactor) -> None:
        self.settings = settings
        self.redactor = redactor
        self.endpoint = settings.url + "/v1/actions/process-check-result"
        self._local = threading.local()
        self._password: Optional[str] = None

    def floor(self, deadline: Deadline) -> float:
        """A call is started only while it can still be given a fair share of -t (its whole
        timeout if that is shorter) before the last ``RESERVE`` seconds: one cut there was
        given its time, and is left against the core."""
        return RESERVE + min(self.settings.timeout, deadline.fair_share())

    def deliver(self, results: Sequence[PassiveResult], deadline: Deadline,
                now: float) -> Delivered:
        if not results:
            return Delivered([], [], [])
        self._credentials()
        sent: List[PassiveResult] = []
        refused: List[Tuple[PassiveResult, str]] = []
        fatal: List[DeliveryError] = []
        cut: List[PassiveResult] = []    # calls the deadline cut (their timeout shortened)
        pending: Set[Future] = set()
        queue = list(results)
        floor = self.floor(deadline)
        pool = ThreadPoolExecutor(max_workers=self.settings.concurrency,
                                  thread_name_prefix="iaso-icinga2")
        try:
            while (queue or pending) and not fatal and deadline.remaining() > RESERVE:
                while queue and len(pending) < self.settings.concurrency * 2 and \
                        deadline.remaining() > floor:
                    result = queue.pop(0)
                    future = pool.submit(self._post, result, now, deadline)
                    future.result_ref = result  # type: ignore[attr-defined]
                    pending.add(future)
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED,
                                     timeout=max(0.01, deadline.remaining() - RESERVE))
                for future in done:
                    result = future.result_ref  # type: ignore[attr-defined]
                    try:
                        problem = future.result()
                    except _Cut:
                        cut.append(result)
                        continue
                    except DeliveryError as exc:
                        fatal.append(exc)
                        queue.insert(0, result)
                        continue
                    if problem is None:
                        sent.append(result)
                    else:
                        refused.append((result, problem))
        finally:
            for future in pending:     # an answer still dripping in is not waited for
                future.cancel()
                queue.insert(0, future.result_ref)  # type: ignore[attr-defined]
            pool.shutdown(wait=False)
        if fatal:
            raise fatal[0]   # what was taken before is sent again next run: no harm
        return Delivered(sent, refused, cut + queue)

    def _credentials(self) -> None:
        from ..errors import ConfigError

        if self._password is None:
            try:
                password = self.settings.credentials.password().reveal()
            except ConfigError as exc:
                raise DeliveryError(f"Icinga 2 API: {exc.message}", route=self.name) from None
            self.redactor.add(password)
            self._password = password

    def _session(self) -> Any:
        session = getattr(self._local, "session", None)
        if session is None:
            import requests

            session = requests.Session()
            session.trust_env = False
            session.auth = (self.settings.credentials.username, self._password or "")
            session.headers.update({"Accept": "application/json"})
            self._local.session = session
        return session

    def _post(self, result: PassiveResult, now: float, deadline: Deadline) -> Optional[str]:
        """Send one result: None when taken, the API's reason when refused for this object;
        ``_Cut`` when no answer came within the call's timeout (its own, or the deadline's
        when shorter): the result is left, as one still in flight at the deadline would be;
        ``DeliveryError`` when the API cannot be used at all."""
        import requests

        body: Dict[str, Any] = {
            "type": "Service", "service": f"{result.host}!{result.service}",
            "exit_status": int(result.state),
            "plugin_output": "\n".join((result.output, *result.long)),
            "performance_data": list(result.perfdata),
            "check_source": "check_iaso_fleet", "execution_start": now, "execution_end": now,
        }
        timeout = max(0.1, min(self.settings.timeout, deadline.remaining() - RESERVE))
        shown = self.settings.url
        try:
            answer = self._session().post(self.endpoint, json=body, timeout=timeout,
                                          verify=self.settings.ca_file or True,
                                          allow_redirects=False)
        except requests.exceptions.SSLError as exc:
            raise DeliveryError(f"Icinga 2 API at {shown}: TLS failure: {tls_reason(exc)}",
                                route=self.name) from None
        except requests.exceptions.ConnectTimeout:
            raise DeliveryError(f"Icinga 2 API at {shown}: unreachable (no connection within "
                                f"{timeout:.1f} s)", route=self.name) from None
        except requests.exceptions.Timeout:
            raise _Cut() from None   # connected, and no answer: the result is left
        except requests.exceptions.ConnectionError as exc:
            raise DeliveryError(f"Icinga 2 API at {shown}: {connect_reason(exc)}",
                                route=self.name) from None
        except (requests.exceptions.RequestException, OSError, ValueError) as exc:
            raise DeliveryError(f"Icinga 2 API at {shown}: {type(exc).__name__}",
                                route=self.name) from None
        if answer.status_code in (401, 403):
            raise DeliveryError(f"Icinga 2 API at {shown} refused user "
                                f"{self.settings.credentials.username} (HTTP "
                                f"{answer.status_code}): check the ApiUser and its "
                                "permissions (actions/process-check-result)", route=self.name)
        if answer.status_code == 200:
            code = _result_code(answer)
            return None if code in (None, 200) else self.redactor(
                _api_reason(answer) or f"result code {code}")
        if answer.status_code in (404, 400, 500):
            return self.redactor(_api_reason(answer) or f"HTTP {answer.status_code}")
        raise DeliveryError(f"Icinga 2 API at {shown} answered HTTP {answer.status_code}",
                            route=self.name)


class _Cut(Exception):
    """A call to Icinga 2's API without an answer within its timeout, or cut at the deadline:
    its result is left for the next run, as one the core took too slowly (a core that hangs
    is the core's problem, said as such every run, not a route of ours to fix)."""


def _result_code(answer: Any) -> Optional[int]:
    """The code of the first per-object result of an action's answer, if it has one."""
    try:
        found = answer.json().get("results")
        code = found[0].get("code")
    except (ValueError, AttributeError, TypeError, IndexError, KeyError):
        return None
    return int(code) if isinstance(code, (int, float)) and not isinstance(code, bool) else None


def _api_reason(answer: Any) -> str:
    try:
        document = answer.json()
    except ValueError:
        return ""
    if isinstance(document, dict):
        for key in ("status", "error"):
            value = document.get(key)
            if isinstance(value, str):
                return " ".join(value.split())[:160]
        found = document.get("results")
        if isinstance(found, list) and found and isinstance(found[0], dict):
            value = found[0].get("status")
            if isinstance(value, str):
                return " ".join(value.split())[:160]
    return ""


def route_of(settings: DeliverySettings, redactor: Redactor) -> Optional[Route]:
    """The configured route, or None when results are not delivered (``route: none``)."""
    if settings.route == "spool":
        assert settings.spool_dir
        return SpoolDirectory(settings.spool_dir)
    if settings.route == "command_file":
        assert settings.command_file
        return CommandFile(settings.command_file)
    if settings.route == "icinga2":
        assert settings.icinga2
        return Icinga2Api(settings.icinga2, redactor)
    return None
