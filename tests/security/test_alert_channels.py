"""Alert channels never give their credentials away: an SMTP login travels only over verified TLS (Airflow's SMTP
notifier sends it after implicit TLS or STARTTLS; a connection that turns both off, or the certificate check, while
it has a login is refused before anything is sent)."""

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
    timeout = 5  # a client that sent a TLS hello (no line to read) and kept its socket: the handler ends anyway

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
    server.daemon_threads, server.block_on_close = True, False
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1], PlainSMTP.commands
    server.shutdown()
    server.server_close()


LOGIN = {"login": "ops", "password": "hunter2-hunter2"}


def smtp_connection(port: int, monkeypatch, login: bool = True, **extra: str) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_PIPELINE_ALERTS", json.dumps(
        {"conn_type": "smtp", "host": "127.0.0.1", "port": port, **(LOGIN if login else {}),
         "extra": {"to": "ops@example.com", "retry_limit": "0", **extra}}))


def sent(commands: list[str], *verbs: str) -> list[str]:
    return [c for c in commands if c.upper().startswith(verbs)]


@pytest.mark.parametrize("extra", [{}, {"disable_ssl": "true"}], ids=["implicit TLS", "STARTTLS"])
def test_an_smtp_login_is_never_sent_to_a_server_without_tls(plain_smtp, monkeypatch, extra):
    port, commands = plain_smtp  # it speaks no TLS and offers no STARTTLS
    smtp_connection(port, monkeypatch, **extra)
    assert alerts.send("s", "m") == "log"
    assert not sent(commands, "AUTH", "MAIL"), commands


@pytest.mark.parametrize("extra", [{"disable_ssl": "true", "disable_tls": "true"},
                                   {"disable_ssl": "false", "disable_tls": "false"},  # the provider reads: set
                                   {"disable_ssl": "true", "ssl_context": "none"}],
                         ids=["TLS off", "TLS off by a 'false'", "certificate not checked"])
def test_a_connection_that_would_send_its_login_in_clear_is_refused(plain_smtp, monkeypatch, caplog, extra):
    port, commands = plain_smtp
    smtp_connection(port, monkeypatch, **extra)
    assert alerts.send("s", "m") == "log" and commands == [], "refused before connecting"
    assert "refusing to send it in clear" in caplog.text and "hunter2" not in caplog.text


def test_without_a_login_a_local_relay_still_gets_the_alert(plain_smtp, monkeypatch):
    port, commands = plain_smtp
    smtp_connection(port, monkeypatch, login=False, disable_ssl="true", disable_tls="true")
    assert alerts.send("s", "m") == "smtp" and sent(commands, "MAIL FROM") and not sent(commands, "AUTH")
