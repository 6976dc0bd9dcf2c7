"""Azure Blob storage and Microsoft Entra ID as the platform's pods meet them, on 127.0.0.1 only.

- **Azurite** (the npm package ``azurite``, installed by ``.ci/setup``) serves Blob storage over HTTPS with OAuth
  on (``--oauth basic``): it accepts a bearer token only if its issuer, audience and lifetime are those of an Entra
  access token for Azure Storage (it does not check the signature), and nothing without TLS.
- **A stand-in for Entra's token endpoint** that does what Entra does for workload identity: it answers MSAL's
  instance and tenant discovery, and exchanges a Kubernetes service-account token (the ``client_assertion``) for an
  access token only when the assertion's issuer, subject and audience match a federated credential it was given
  (those the ``WorkloadIdentity`` component renders), for the client id of that credential's identity.
- **A CONNECT proxy** that routes ``<account>.blob.core.windows.net:443`` to Azurite and
  ``login.microsoftonline.com:443`` to the stand-in, so the real Azure SDK and MLflow code run unchanged, with their
  real host names, against the local servers (``HTTPS_PROXY``); a throwaway CA signs both servers' certificates
  (``REQUESTS_CA_BUNDLE``).

What is real: azure-identity's ``WorkloadIdentityCredential`` (through ``DefaultAzureCredential``, reading the
variables the AKS webhook injects), MSAL's client-assertion flow, azure-storage-blob, MLflow's wasbs repository.
What is not: the token file is written here with the claims the kubelet would put in it (no signature), the stand-in
checks claims but not signatures against the cluster's JWKS, and Azurite evaluates no Azure RBAC role assignment.
"""

from __future__ import annotations

import base64
import datetime
import json
import os
import select
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
AZURITE = PROJECT_ROOT / ".venv" / "node" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
"""Azurite's built-in account; production-style host names (``<account>.blob.core.windows.net``) select it."""
ENTRA_HOST = "login.microsoftonline.com"
TENANT_ID = "72f988bf-86f1-41af-91ab-2d7cd011db47"
STORAGE_AUDIENCE = "https://storage.azure.com"
TOKEN_AUDIENCE = "api://AzureADTokenExchange"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unsigned_jwt(claims: dict) -> str:
    """A JWT with ``claims`` and a placeholder signature (what a reader that does not verify signatures accepts)."""
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()
    return f"{part({'alg': 'RS256', 'typ': 'JWT', 'kid': 'test'})}.{part(claims)}.{part({'sig': 'none'})}"


def jwt_claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def service_account_token(issuer: str, namespace: str, service_account: str, lifetime_seconds: int = 3600) -> str:
    """The projected token the kubelet writes for a workload-identity pod: audience ``api://AzureADTokenExchange``."""
    now = int(time.time())
    return unsigned_jwt({"iss": issuer, "sub": f"system:serviceaccount:{namespace}:{service_account}",
                         "aud": [TOKEN_AUDIENCE], "iat": now, "nbf": now, "exp": now + lifetime_seconds,
                         "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": service_account}}})


@dataclass(frozen=True)
class Federation:
    """One federated identity credential: what Entra trusts, for which identity."""

    client_id: str
    issuer: str
    subject: str
    audiences: tuple[str, ...]


@dataclass
class EmulatedAzure:
    blob_port: int
    entra_port: int
    proxy_port: int
    ca_bundle: Path
    workdir: Path
    federations: list[Federation] = field(default_factory=list)
    issued: list[dict] = field(default_factory=list)
    """Claims of every access token the stand-in issued."""
    refused: list[str] = field(default_factory=list)

    @property
    def blob_endpoint(self) -> str:
        return f"https://{ACCOUNT}.blob.core.windows.net"

    def client_env(self) -> dict[str, str]:
        """What a process needs, besides its identity, to reach the emulators under their real host names."""
        proxy = f"http://127.0.0.1:{self.proxy_port}"
        return {"HTTPS_PROXY": proxy, "https_proxy": proxy, "NO_PROXY": "127.0.0.1,localhost",
                "no_proxy": "127.0.0.1,localhost", "REQUESTS_CA_BUNDLE": str(self.ca_bundle),
                "SSL_CERT_FILE": str(self.ca_bundle)}

    def workload_identity_env(self, client_id: str, token: str) -> dict[str, str]:
        """What the AKS workload-identity webhook injects into a labelled pod, with the projected token file."""
        token_file = self.workdir / f"token-{uuid.uuid4().hex}"
        token_file.write_text(token)
        return {"AZURE_CLIENT_ID": client_id, "AZURE_TENANT_ID": TENANT_ID,
                "AZURE_FEDERATED_TOKEN_FILE": str(token_file), "AZURE_AUTHORITY_HOST": f"https://{ENTRA_HOST}/"}


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and one server certificate for the emulated host names, signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    import ipaddress

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlops test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    names = [x509.DNSName(f"{ACCOUNT}.blob.core.windows.net"), x509.DNSName("*.blob.core.windows.net"),
             x509.DNSName(ENTRA_HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{ACCOUNT}.blob.core.windows.net")]))
              .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName(names), critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    ca_file, cert_file, key_file = directory / "ca.pem", directory / "server.pem", directory / "server-key.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_file, cert_file, key_file


def _entra_handler(state: EmulatedAzure):
    base = f"https://{ENTRA_HOST}"

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _json(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            path = urllib.parse.urlparse(self.path).path
            if path.endswith("/discovery/instance"):
                return self._json(200, {"tenant_discovery_endpoint":
                                        f"{base}/{TENANT_ID}/v2.0/.well-known/openid-configuration",
                                        "api-version": "1.1", "metadata": [{
                                            "preferred_network": ENTRA_HOST, "preferred_cache": ENTRA_HOST,
                                            "aliases": [ENTRA_HOST]}]})
            if path.endswith("/.well-known/openid-configuration"):
                tenant = path.split("/")[1]
                return self._json(200, {
                    "token_endpoint": f"{base}/{tenant}/oauth2/v2.0/token",
                    "authorization_endpoint": f"{base}/{tenant}/oauth2/v2.0/authorize",
                    "issuer": f"{base}/{tenant}/v2.0", "device_authorization_endpoint":
                    f"{base}/{tenant}/oauth2/v2.0/devicecode",
                    "jwks_uri": f"{base}/{tenant}/discovery/v2.0/keys",
                    "response_types_supported": ["code", "token"], "token_endpoint_auth_methods_supported": [
                        "client_secret_post", "private_key_jwt"]})
            return self._json(404, {"error": "not_found"})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            if not self.path.split("?")[0].endswith("/oauth2/v2.0/token"):
                return self._json(404, {"error": "not_found"})
            assertion = form.get("client_assertion", "")
            try:
                claims = jwt_claims(assertion)
            except (IndexError, ValueError):
                state.refused.append("client_assertion is not a JWT")
                return self._json(400, {"error": "invalid_client", "error_description": "AADSTS50027"})
            audiences = claims.get("aud") if isinstance(claims.get("aud"), list) else [claims.get("aud")]
            trusted = [f for f in state.federations if f.client_id == form.get("client_id")
                       and f.issuer == claims.get("iss") and f.subject == claims.get("sub")
                       and set(audiences) & set(f.audiences) and claims.get("exp", 0) > time.time()]
            if form.get("client_assertion_type") != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" \
                    or not trusted:
                state.refused.append(f"no federated credential of {form.get('client_id')} matches "
                                     f"iss={claims.get('iss')} sub={claims.get('sub')} aud={audiences}")
                return self._json(400, {"error": "invalid_client", "error_description":
                                        "AADSTS70021: No matching federated identity record found"})
            scope = form.get("scope", "")
            resource = scope.split()[0].removesuffix("/.default")
            now = int(time.time())
            token_claims = {"aud": resource, "iss": f"https://sts.windows.net/{TENANT_ID}/", "iat": now,
                            "nbf": now - 60, "exp": now + 3600, "appid": form["client_id"],
                            "oid": str(uuid.uuid5(uuid.NAMESPACE_URL, form["client_id"])), "tid": TENANT_ID,
                            "sub": claims.get("sub")}
            state.issued.append(token_claims)
            return self._json(200, {"token_type": "Bearer", "expires_in": 3600, "ext_expires_in": 3600,
                                    "access_token": unsigned_jwt(token_claims)})

    return Handler


def _serve_proxy(listener: socket.socket, routes: dict[str, int], stop: threading.Event) -> None:
    """A CONNECT-only HTTP proxy: ``routes`` maps a host name suffix to a local port."""

    def pipe(client: socket.socket) -> None:
        try:
            request = b""
            while b"\r\n\r\n" not in request:
                chunk = client.recv(4096)
                if not chunk:
                    return
                request += chunk
            method, target = request.split(b" ", 2)[:2]
            host = target.decode().rsplit(":", 1)[0]
            port = next((p for suffix, p in routes.items() if host == suffix or host.endswith("." + suffix)), None)
            if method != b"CONNECT" or port is None:
                client.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                return
            upstream = socket.create_connection(("127.0.0.1", port), timeout=30)
            client.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
            sockets = [client, upstream]
            while not stop.is_set():
                readable, _, _ = select.select(sockets, [], [], 1.0)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is client else client).sendall(data)
        except OSError:
            return
        finally:
            client.close()

    listener.settimeout(0.5)
    while not stop.is_set():
        try:
            client, _ = listener.accept()
        except TimeoutError:
            continue
        except OSError:
            return
        threading.Thread(target=pipe, args=(client,), daemon=True).start()


@contextmanager
def running_emulated_azure() -> Iterator[EmulatedAzure]:
    directory = Path(tempfile.mkdtemp(prefix="mlops-azure-"))
    ca_file, cert_file, key_file = _certificates(directory)
    state = EmulatedAzure(blob_port=free_port(), entra_port=free_port(), proxy_port=free_port(), ca_bundle=ca_file,
                          workdir=directory)
    log = (directory / "azurite.log").open("w")
    azurite = subprocess.Popen(
        [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(state.blob_port), "--location",
         str(directory / "data"), "--cert", str(cert_file), "--key", str(key_file), "--oauth", "basic",
         "--skipApiVersionCheck", "--loose", "--disableTelemetry"],
        stdout=log, stderr=subprocess.STDOUT)
    entra = ThreadingHTTPServer(("127.0.0.1", state.entra_port), _entra_handler(state))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    entra.socket = context.wrap_socket(entra.socket, server_side=True)
    stop = threading.Event()
    listener = socket.create_server(("127.0.0.1", state.proxy_port))
    threads = [threading.Thread(target=entra.serve_forever, daemon=True),
               threading.Thread(target=_serve_proxy, args=(listener, {"blob.core.windows.net": state.blob_port,
                                                                      ENTRA_HOST: state.entra_port}, stop),
                                daemon=True)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", state.blob_port), timeout=1).close()
                break
            except OSError:
                if azurite.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Azurite did not start: {(directory / 'azurite.log').read_text()[-2000:]}")
                time.sleep(0.2)
        yield state
    finally:
        stop.set()
        entra.shutdown()
        listener.close()
        azurite.terminate()
        try:
            azurite.wait(timeout=20)
        except subprocess.TimeoutExpired:
            azurite.kill()
        log.close()
        shutil.rmtree(directory, ignore_errors=True)


def azurite_available() -> bool:
    return AZURITE.exists() and shutil.which("node") is not None


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in ``os.environ`` for the duration (the in-process Azure SDK reads its settings there)."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
