"""``iaso-servicedesk-notify``: turn a Nagios notification into a ticket mail.

The service desk's mail gateway opens a ticket from a PROBLEM mail and threads later mails onto
it by the ticket key in the subject and in an ``X-IASO-Ticket`` header. The key is the core's
problem ID, an opaque string: ``$SERVICEPROBLEMID$`` for a problem and its acknowledgements,
``$LASTSERVICEPROBLEMID$`` on RECOVERY (when the current one is already reset to 0), so the
recovery closes the ticket its problem opened.
"""
from __future__ import annotations

import re
import subprocess
import sys
from email import policy
from email.message import EmailMessage
from typing import Optional

import click

RECOVERY = "RECOVERY"


def ticket_key(notification_type: str, problem_id: str, last_problem_id: str) -> str:
    """The problem's opaque ID: on RECOVERY the current one is already reset to 0."""
    if notification_type.upper() == RECOVERY and last_problem_id not in ("", "0"):
        return last_problem_id
    return problem_id or last_problem_id or "0"


def one_line(text: str) -> str:
    """Header-safe: no CR or LF may reach a header (no header injection through outputs)."""
    return re.sub(r"[\r\n]+", " ", text).strip()


def build_mail(*, to: str, notification_type: str, environment: str, host: str,
               service: Optional[str], state: str, attempt: str, problem_id: str,
               last_problem_id: str, time: str, output: str, details: str, runbook: str,
               author: str, comment: str) -> EmailMessage:
    key = ticket_key(notification_type, problem_id, last_problem_id)
    what = f"{host}/{service}" if service else host
    message = EmailMessage(policy=policy.SMTP.clone(max_line_length=998))  # unfolded headers
    message["To"] = one_line(to)
    message["Subject"] = one_line(f"[IASO {environment}] {notification_type} {what} is {state} "
                                  f"[ticket {key}]")
    message["X-IASO-Ticket"] = one_line(key)
    message["X-IASO-Notification"] = one_line(notification_type)
    lines = [f"Ticket: {key}", f"Notification: {notification_type}",
             f"Environment: {environment}", f"Host: {host}"]
    if service:
        lines.append(f"Service: {service}")
    lines += [f"State: {state}", f"Attempt: {attempt}", f"Time: {time}",
              f"Summary: {output}"]
    if runbook:
        lines.append(f"Runbook: {runbook}")
    if author or comment:
        lines.append(f"Comment: {author}: {comment}".rstrip(": "))
    body = "\n".join(one_line(line) for line in lines)
    if details:
        body += "\n\n" + details.replace("\\n", "\n").strip()
    message.set_content(body + "\n", cte="8bit")  # readable as is by a gateway's parser
    return message


@click.command("iaso-servicedesk-notify",
               context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--sendmail", required=True, help="sendmail-compatible program ($USER12$).")
@click.option("--to", required=True, help="The service desk's address ($CONTACTEMAIL$).")
@click.option("--type", "notification_type", required=True, help="$NOTIFICATIONTYPE$")
@click.option("--environment", default="", help="$_HOSTIASO_ENV$")
@click.option("--host", required=True, help="$HOSTNAME$")
@click.option("--service", default=None, help="$SERVICEDESC$ (absent for a host)")
@click.option("--state", required=True, help="$SERVICESTATE$ or $HOSTSTATE$")
@click.option("--attempt", default="", help="$SERVICEATTEMPT$/$MAXSERVICEATTEMPTS$")
@click.option("--problem-id", default="", help="$SERVICEPROBLEMID$")
@click.option("--last-problem-id", default="", help="$LASTSERVICEPROBLEMID$")
@click.option("--time", "when", default="", help="$LONGDATETIME$")
@click.option("--output", default="", help="$SERVICEOUTPUT$")
@click.option("--details", default="", help="$LONGSERVICEOUTPUT$")
@click.option("--runbook", default="", help="$SERVICENOTESURL$")
@click.option("--author", default="", help="$NOTIFICATIONAUTHOR$")
@click.option("--comment", default="", help="$NOTIFICATIONCOMMENT$")
def main(sendmail: str, to: str, notification_type: str, environment: str, host: str,
         service: Optional[str], state: str, attempt: str, problem_id: str,
         last_problem_id: str, when: str, output: str, details: str, runbook: str,
         author: str, comment: str) -> None:
    """Mail one Nagios notification to the service desk as a ticket (docs/integration.md)."""
    message = build_mail(to=to, notification_type=notification_type, environment=environment,
                         host=host, service=service, state=state, attempt=attempt,
                         problem_id=problem_id, last_problem_id=last_problem_id, time=when,
                         output=output, details=details, runbook=runbook, author=author,
                         comment=comment)
    try:
        done = subprocess.run([sendmail, "-t", "-oi"], input=message.as_bytes(), timeout=30,
                              capture_output=True)
    except (OSError, subprocess.TimeoutExpired) as exc:
        click.echo(f"iaso-servicedesk-notify: {sendmail} failed: {exc}", err=True)
        sys.exit(1)
    if done.returncode != 0:
        click.echo(f"iaso-servicedesk-notify: {sendmail} exited with {done.returncode}: "
                   f"{done.stderr.decode('utf-8', 'replace').strip()[:200]}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
