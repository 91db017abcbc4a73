#!/usr/bin/env python3
"""A real SMTP server (aiosmtpd) for the mail tests: it keeps every message it accepts.

Prints `listening on 127.0.0.1:PORT` once it serves, then appends one JSON object per accepted
message to OUTPUT: the envelope sender and recipients, the content as received (dot-stuffing
undone by the server), whether the session was under TLS and who authenticated, and the message
as Python's own email parser reads it (header names, decoded subject, text and HTML parts).

  smtp_sink.py OUTPUT [--tls CERT KEY] [--auth USER:PASSWORD] [--login-only] [--reply CODE]... [--hold-first SECONDS]
               [--count-only]

--tls         offer STARTTLS with this certificate and key (then require it before MAIL)
--auth        accept AUTH with this user and password (only under TLS, as aiosmtpd insists)
--login-only  offer AUTH LOGIN but not PLAIN
--reply CODE  answer the end of DATA with CODE (e.g. "421 try later"), one per message in turn;
              messages past the list are accepted with 250; a refused message is not kept
--hold-first  keep the first accepted message, then wait this long before answering its 250 (a
              client can be stopped after the server has the message and before it hears so)
--count-only  keep only each message's Message-ID, unparsed (for benchmarks: the server's own
              work stays that of accepting mail)
"""
import argparse
import asyncio
import email
import email.policy
import json
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Sink:
    def __init__(self, output, replies, hold_first, count_only):
        self.output = output
        self.replies = list(replies)
        self.hold = hold_first
        self.count_only = count_only

    async def handle_DATA(self, server, session, envelope):
        if self.replies:
            reply = self.replies.pop(0)
            if not reply.startswith("250"):
                return reply
        if self.count_only:
            with open(self.output, "a") as out:
                out.write(json.dumps({"message_id": message_id(envelope.original_content)}) + "\n")
            return "250 OK: kept"
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "content": envelope.original_content.decode("utf-8", "replace"),
            "tls": session.ssl is not None,
            "user": session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None,
        }
        record.update(parsed(envelope.original_content))
        with open(self.output, "a") as out:
            out.write(json.dumps(record) + "\n")
        if self.hold:
            hold, self.hold = self.hold, 0
            await asyncio.sleep(hold)
        return "250 OK: kept"


def message_id(content):
    """The Message-ID header's value, found without parsing the message."""
    for line in content.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode("ascii", "replace")
    return ""


def parsed(content):
    """The message as the standard library reads it."""
    message = email.message_from_bytes(content, policy=email.policy.default)
    text = message.get_body(("plain",))
    html = message.get_body(("html",))
    return {
        "headers": [name.lower() for name in message.keys()],
        "subject": str(message.get("subject", "")),
        "from_header": str(message.get("from", "")),
        "message_id": str(message.get("message-id", "")),
        "list_unsubscribe": message.get("list-unsubscribe"),
        "list_unsubscribe_post": message.get("list-unsubscribe-post"),
        "text": text.get_content() if text is not None else None,
        "html": html.get_content() if html is not None else None,
        "seven_bit": all(byte < 128 for byte in content),
    }


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("output")
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--auth")
    parser.add_argument("--login-only", action="store_true")
    parser.add_argument("--reply", action="append", default=[])
    parser.add_argument("--hold-first", type=float, default=0)
    parser.add_argument("--count-only", action="store_true")
    arguments = parser.parse_args()

    options = {}
    if arguments.tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(*arguments.tls)
        options.update(tls_context=context, require_starttls=True)
    if arguments.auth:
        user, password = arguments.auth.split(":", 1)

        def authenticate(server, session, envelope, mechanism, data):
            ok = isinstance(data, LoginPassword) and data.login.decode() == user and data.password.decode() == password
            return AuthResult(success=ok, handled=False, auth_data=data)

        options.update(authenticator=authenticate, auth_required=True, auth_require_tls=bool(arguments.tls))
        if arguments.login_only:
            options.update(auth_exclude_mechanism=["PLAIN"])

    port = free_port()
    controller = Controller(Sink(arguments.output, arguments.reply, arguments.hold_first, arguments.count_only), hostname="127.0.0.1", port=port, **options)
    controller.start()
    print("listening on 127.0.0.1:%d" % port, flush=True)
    try:
        asyncio.new_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
