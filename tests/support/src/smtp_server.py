"""A real SMTP server for tests/health/health_checks.rs, on aiosmtpd.

Usage: smtp_server.py PORT [--auth USER:PASSWORD] [--starttls CERT KEY] [--implicit-tls CERT KEY]
                      [--messages]

Prints READY once it accepts connections, then one line per command it handled (EHLO, STARTTLS,
AUTH <mechanism> ok|fail, MAIL, RCPT, DATA, QUIT; after DATA, `MESSAGE {json}` with the envelope,
subject, headers and plain-text body), flushed, so the test can assert what the
client did. (`--messages` is accepted for older callers; messages are always printed.) Exits
when its standard input closes (the test ended) or on SIGTERM.
"""

import email
import email.policy
import json
import logging
import ssl
import sys
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def log(line):
    print(line, flush=True)


class Recorder:
    def __init__(self, messages=False):
        self.messages = messages

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        log("EHLO")
        return responses

    def handle_STARTTLS(self, server, session, envelope):  # aiosmtpd calls it synchronously
        log("STARTTLS")
        return True

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        log("MAIL")
        envelope.mail_from = address
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        log("RCPT")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        log("DATA")
        # The whole message on one line, for tests of code that sends mail (alert emails).
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        log("MESSAGE " + json.dumps({
            "from": envelope.mail_from,
            "to": list(envelope.rcpt_tos),
            "subject": str(message["subject"]),
            "headers": {k: str(v) for k, v in message.items()},
            "body": body.get_content() if body is not None else "",
        }))
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        log("QUIT")
        return "221 Bye"


def main():
    # Plain-text AUTH is what some tests want; keep aiosmtpd's warnings about it quiet.
    warnings.filterwarnings("ignore")
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    args = sys.argv[1:]
    port = int(args.pop(0))
    user = password = None
    starttls = implicit = None
    messages = False
    while args:
        flag = args.pop(0)
        if flag == "--auth":
            user, password = args.pop(0).split(":", 1)
        elif flag == "--starttls":
            starttls = (args.pop(0), args.pop(0))
        elif flag == "--implicit-tls":
            implicit = (args.pop(0), args.pop(0))
        elif flag == "--messages":
            messages = True
        else:
            raise SystemExit(f"unknown flag {flag}")

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        log(f"AUTH {mechanism} {'ok' if ok else 'fail'}")
        # handled=False: aiosmtpd answers 535 itself on a failure.
        return AuthResult(success=ok, handled=False)

    def context(pair):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*pair)
        return ctx

    kwargs = {}
    if user is not None:
        kwargs.update(authenticator=authenticator, auth_required=True, auth_require_tls=False)
    if starttls:
        kwargs.update(tls_context=context(starttls), require_starttls=False)
    controller = Controller(
        Recorder(messages),
        hostname="127.0.0.1",
        port=port,
        ssl_context=context(implicit) if implicit else None,
        **kwargs,
    )
    controller.start()
    log("READY")
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
