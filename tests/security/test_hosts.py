"""Security pass (issue 8): where the credentials can go. A deployment name that could steer the host anywhere but
`{deployment}.api.accelo.com` is refused before any network call, whichever way it comes in; TLS verification is
never turned off; and a redirect never takes the Authorization header (Basic or Bearer) to another host: the kit does
not follow redirects at all and says so.

The network guard (`no_network`) refuses every DNS lookup and connection in the validation tests, so "before any
network call" is checked, not assumed. The TLS and redirect tests use real servers on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import json
import re
import ssl
import threading
import warnings
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from accelo_kit import AcceloClient, ConfigError, Settings
from accelo_kit.cli import EXIT_USAGE, main
from accelo_kit.destinations.fivetran import settings_from_configuration
from accelo_kit.errors import AcceloError, AuthenticationError, RequestError, RetriesExhausted
from accelo_kit.http import Transport
from tests.security.support import no_network

ROOT = Path(__file__).resolve().parents[2]
SECRET = "S3cr3t-hosts-Q8v"
CREDENTIALS = {"client_id": "hosts-client", "client_secret": SECRET}

HOSTILE_DEPLOYMENTS = {
    "path": "evil.com/x",
    "dotted": "a.b",
    "metadata IP": "169.254.169.254",
    "userinfo": "x@y",
    "fragment": "x#",
    "space": "X Y",
    "empty": "",
    "blank": "   ",
    "64 letters": "a" * 64,
    "very long": "a" * 5000,
    "Cyrillic a": "\u0430cme",
    "full-width": "\uff41\uff43\uff4d\uff45",
    "Kelvin sign": "\u212acme",  # lower() turns it into an ASCII "k": a look-alike that would pass a naive check
    "dotless i": "\u0131cme",
    "suffix host": "acme.accelo.com.evil.com",
    "other domain": "acme.evil.com",
    "percent-encoded dot": "acme%2eevil",
    "newline": "acme\nevil.com",
    "header injection": "acme\r\nHost: evil.com",
    "NUL": "acme\x00evil",
    "tab": "ac\tme",
    "leading hyphen": "-acme",
    "URL to elsewhere": "https://evil.com",
    "URL with userinfo": "https://acme.accelo.com@evil.com",
    "URL with backslash": "https://evil.com\\@acme.accelo.com",
    "URL with fragment": "https://evil.com#.accelo.com",
    "URL with query": "https://evil.com?.accelo.com",
    "URL with port": "https://acme.accelo.com:8443",
    "protocol-relative": "//evil.com",
    "other scheme": "ftp://acme.accelo.com",
    "port without scheme": "acme.accelo.com:8080",
    "double dot": "acme..accelo.com",
}
HOSTILE_BASE_URLS = {
    "plain http elsewhere": "http://evil.com",
    "loopback look-alike": "http://127.0.0.1.evil.com",
    "userinfo": "http://localhost@evil.com",
    "credentials": "https://user:pw@evil.com",
    "path": "https://evil.com/steal",
    "query": "https://evil.com/?x=1",
    "bad port": "http://127.0.0.1:99999",
    "javascript": "javascript:alert(1)",
    "no scheme": "evil.com",
}


def attempt(values: dict[str, Any]) -> ConfigError:
    """Every way a deployment comes in, each expected to raise ConfigError; a Settings that slips through is used,
    so a missing check shows as network traffic rather than passing silently."""
    errors: list[ConfigError] = []
    once = {**values, "max_attempts": "1"}  # should one slip through, it fails at once instead of retrying
    ways = [
        lambda: Settings.from_mapping(once),
        lambda: settings_from_configuration(once),
        lambda: Settings(**values, max_attempts=1),
        lambda: Settings.load(None, environ={}, **once),
        lambda: Settings.from_env({"ACCELO_" + k.upper(): v for k, v in values.items()}),
    ]
    for way in ways:
        try:
            settings = way()
        except ConfigError as err:
            errors.append(err)
            continue
        with AcceloClient(settings) as client:
            client.server_time()
        pytest.fail(f"accepted {values!r} as {settings.origin}")
    assert errors
    return errors[0]


@pytest.mark.parametrize("raw", list(HOSTILE_DEPLOYMENTS.values()), ids=list(HOSTILE_DEPLOYMENTS))
def test_a_hostile_deployment_name_is_refused_before_any_network_call(raw: str, monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path, capsys) -> None:
    """A deployment is one DNS label: anything else (a path, another domain, an address, userinfo, a fragment,
    whitespace or control characters, a look-alike letter, an over-long label) is refused by every entry point
    (configuration mapping, Fivetran, the Settings constructor, keywords, environment, configuration.json through
    the CLI) with a ConfigError that names the key, and nothing touches the network."""
    with no_network(monkeypatch) as touched:
        err = attempt({**CREDENTIALS, "deployment": raw})
        path = tmp_path / "configuration.json"
        path.write_text(json.dumps({**CREDENTIALS, "deployment": raw}))
        assert main(["check", "--config", str(path)]) == EXIT_USAGE
    assert touched == []
    assert "deployment" in str(err)
    assert SECRET not in str(err) and SECRET not in capsys.readouterr().err
    assert len(str(err)) < 400 or raw == HOSTILE_DEPLOYMENTS["very long"]


@pytest.mark.parametrize("raw", list(HOSTILE_BASE_URLS.values()), ids=list(HOSTILE_BASE_URLS))
def test_a_hostile_base_url_is_refused_before_any_network_call(raw: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """base_url (for simulators and test servers) takes scheme://host[:port] only, https unless the host is a
    loopback address, with no credentials, path or query."""
    with no_network(monkeypatch) as touched:
        err = attempt({**CREDENTIALS, "base_url": raw})
    assert touched == []
    assert "base_url" in str(err)


@pytest.mark.parametrize(("raw", "origin"), [
    ("acme", "https://acme.api.accelo.com"),
    ("ACME", "https://acme.api.accelo.com"),
    ("acme.accelo.com", "https://acme.api.accelo.com"),
    ("https://acme.api.accelo.com/", "https://acme.api.accelo.com"),
    ("xn--80ak6aa92e", "https://xn--80ak6aa92e.api.accelo.com"),  # punycode is plain ASCII: still under accelo.com
])
def test_good_deployment_names_pass_the_same_guard(raw: str, origin: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The control for the table above: real names are accepted (by the constructor too) and still make no
    network call, so the refusals are about the names, not the guard."""
    with no_network(monkeypatch) as touched:
        assert Settings.from_mapping({**CREDENTIALS, "deployment": raw}).origin == origin
        assert Settings(**CREDENTIALS, deployment=raw).origin == origin
    assert touched == []


# -- TLS ------------------------------------------------------------------------------------------------------
def test_every_session_verifies_tls_whatever_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The token session and the per-thread API sessions verify certificates and ignore the environment, so
    CURL_CA_BUNDLE="" (which turns verification off in some requests versions), a CA bundle swapped under the kit,
    or a proxy variable cannot weaken them."""
    for name, value in {"CURL_CA_BUNDLE": "", "REQUESTS_CA_BUNDLE": "/dev/null", "HTTPS_PROXY": "http://127.0.0.1:9",
                        "HTTP_PROXY": "http://127.0.0.1:9", "ALL_PROXY": "http://127.0.0.1:9"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_mapping({**CREDENTIALS, "deployment": "acme"})
    with AcceloClient(settings) as client:
        parts = list(vars(client).values())  # the client's private parts, found by type rather than by name
        sessions = [part for part in parts if isinstance(part, requests.Session)]  # the token session
        sessions += [part.session() for part in parts if isinstance(part, Transport)]  # this thread's API session
        assert len(sessions) == 2, sessions
        for session in sessions:
            assert session.verify is True
            assert session.trust_env is False
            merged = session.merge_environment_settings(settings.api_root, {}, None, None, None)
            assert merged["verify"] is True and not merged["proxies"], merged


INSECURE = re.compile(r"verify\s*=\s*False|CERT_NONE|check_hostname\s*=\s*False|_create_unverified_context|"
                      r"disable_warnings|InsecureRequestWarning|PYTHONHTTPSVERIFY|trust_env\s*=\s*True")


def test_no_code_turns_tls_verification_off() -> None:
    """Nothing in the package, the connector or the notebooks disables verification or silences its warning."""
    sources = [*sorted((ROOT / "accelo_kit").rglob("*.py")), ROOT / "connector.py",
               *sorted((ROOT / "notebooks").glob("*.py"))]
    assert len(sources) > 20
    found = [f"{path.relative_to(ROOT)}:{n}: {line.strip()}" for path in sources
             for n, line in enumerate(path.read_text().splitlines(), 1) if INSECURE.search(line)]
    assert not found, found


class Recorder(BaseHTTPRequestHandler):
    """Records every request (method, path, headers) it is sent, and answers as the API would, so that a client that
    followed a redirect here would appear to succeed."""

    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/oauth2/"):
            body = {"access_token": "redirected-token-0123456789", "token_type": "Bearer", "expires_in": "3600"}
        else:
            body = {"meta": {"status": "ok"}, "response": []}
        self._send(200, json.dumps(body).encode())

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in {"Content-Type": "application/json", "Content-Length": str(len(body)),
                           **(headers or {})}.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = _answer


class Redirector(Recorder):
    """Answers with `server.status` and a Location on the recorder (another host name and port): every request, or
    every API request after handing out a token itself (`server.token_too` False)."""

    def _answer(self) -> None:
        self.server.seen.append((self.command, self.path, dict(self.headers)))
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        if self.path.startswith("/oauth2/") and not self.server.token_too:
            body = {"access_token": "local-token-0123456789", "token_type": "Bearer", "expires_in": "3600"}
            self._send(200, json.dumps(body).encode())
            return
        self._send(self.server.status, b"", {"Location": self.server.target + self.path})

    do_GET = do_POST = _answer


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler], tls: ssl.SSLContext | None = None,
            **attributes: Any) -> Iterator[Any]:
    """A threaded HTTP(S) server on 127.0.0.1 with `seen` (the requests it was sent) and the given attributes."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    server.seen = []
    for key, value in attributes.items():
        setattr(server, key, value)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def settings_for(port: int, scheme: str = "http") -> Settings:
    return Settings.from_mapping({**CREDENTIALS, "base_url": f"{scheme}://127.0.0.1:{port}", "max_attempts": "2",
                                  "max_retry_wait": "2", "request_timeout": "5"})


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("where", ["token endpoint", "API"])
def test_a_redirect_to_another_host_is_not_followed_and_carries_no_authorization(status: int, where: str) -> None:
    """The server answers with a redirect to another host (the recorder, which would accept anything): the kit does
    not follow it, so neither the Basic credentials nor the bearer token reach that host, and it stops with an error
    that says "redirect" and never holds a credential."""
    with serving(Recorder) as elsewhere, serving(Redirector, status=status, token_too=where == "token endpoint",
                                                 target=f"http://localhost:{elsewhere.server_port}") as origin:
        error: AcceloError | None = None
        with AcceloClient(settings_for(origin.server_port)) as client:
            try:
                client.get("companies", {"_limit": "1"})
            except AcceloError as err:
                error = err
    carried = [(method, path) for method, path, headers in elsewhere.seen
               if any(k.lower() == "authorization" for k in headers)]
    assert carried == [], f"the Authorization header reached the other host: {carried}"
    assert elsewhere.seen == [], "the redirect was followed (without credentials, but the kit never follows one)"
    assert error is not None, "a redirect was taken for an answer"
    expected = AuthenticationError if where == "token endpoint" else RequestError
    assert type(error) is expected, repr(error)
    assert "redirect" in str(error) and error.status == status
    assert SECRET not in str(error) and "local-token" not in str(error)
    assert len(origin.seen) == (1 if where == "token endpoint" else 2)  # one try each: a redirect is not retried


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    """A server-side TLS context with a self-signed certificate for 127.0.0.1 (valid, just not trusted)."""
    crypto = pytest.importorskip("cryptography")  # comes with the connector extra (fivetran-connector-sdk)
    del crypto
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def test_an_untrusted_certificate_is_refused_before_credentials_are_sent(self_signed: ssl.SSLContext) -> None:
    """An https server whose certificate is not trusted (self-signed, right name, within its dates): the handshake
    fails, so the Basic credentials are never sent; the error says TLS. A plain requests call confirms the server
    works when verification is off, so the refusal is about trust."""
    with serving(Recorder, tls=self_signed) as server:
        with AcceloClient(settings_for(server.server_port, "https")) as client, \
                pytest.raises(RetriesExhausted) as raised:
            client.get("companies")
        assert server.seen == []
        url = f"https://127.0.0.1:{server.server_port}/oauth2/v0/token"
        with warnings.catch_warnings():  # the control: with verification off (here only) the server answers
            warnings.simplefilter("ignore")
            assert requests.post(url, verify=False, timeout=5).status_code == 200
        assert len(server.seen) == 1
    message = str(raised.value)
    assert "TLS" in message and "certificate" in message, message
    assert SECRET not in message
