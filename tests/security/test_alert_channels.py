"""Alert channels never give their credentials away: an SMTP login travels only over verified TLS, and a webhook
given without a scheme is sent over https."""

import json
import socketserver
import threading

import pytest

from pipeline.ops import alerts

pytestmark = pytest.mark.security


class PlainSMTP(socketserver.StreamRequestHandler):
    """A real SMTP server on loopback without TLS (a relay on the path, or a downgraded one): it accepts logins and
    mail and records every command it was sent."""

    commands: list[str] = []

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 localhost ESMTP")
        while line := self.rfile.readline().decode(errors="replace").strip():
            self.commands.append(line)
            verb = line.split()[0].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250-localhost")
                self.reply("250 AUTH PLAIN LOGIN")
            elif verb == "DATA":
                self.reply("354 go on")
                while self.rfile.readline().rstrip(b"\r\n") != b".":
                    pass
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("235 ok" if verb == "AUTH" else "250 ok")


@pytest.fixture
def plain_smtp():
    PlainSMTP.commands = []
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), PlainSMTP)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], PlainSMTP.commands
    server.shutdown()
    server.server_close()


def test_an_smtp_login_is_never_sent_without_tls(plain_smtp, monkeypatch):
    port, commands = plain_smtp
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_ALERTS", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": port, "login": "ops", "password": "hunter2-hunter2",
         "extra": {"to": "ops@example.com"}}))
    assert alerts.send("s", "m") == "log"
    assert commands and not [c for c in commands if c.upper().startswith(("AUTH", "MAIL"))], commands


def test_without_a_login_a_local_relay_still_gets_the_alert(plain_smtp, monkeypatch):
    port, commands = plain_smtp
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_ALERTS", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": port, "extra": {"to": "ops@example.com"}}))
    assert alerts.send("s", "m") == "smtp" and any(c.upper().startswith("MAIL FROM") for c in commands)


def test_implicit_tls_checks_the_certificate(plain_smtp, monkeypatch):
    port, commands = plain_smtp  # it speaks no TLS: the handshake fails before anything is sent
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_ALERTS", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": port, "login": "ops", "password": "hunter2-hunter2",
         "extra": {"to": "ops@example.com", "ssl": "true"}}))
    assert alerts.send("s", "m") == "log" and not [c for c in commands if c.upper().startswith("AUTH")]


def test_a_webhook_without_a_scheme_goes_over_https():
    assert alerts.webhook_url({"conn_type": "webhook", "host": "hooks.example.com", "schema": "x"}) == \
        "https://hooks.example.com/x"
    assert alerts.webhook_url({"conn_type": "http", "host": "127.0.0.1", "port": 8, "schema": "x"}) == \
        "http://127.0.0.1:8/x"
