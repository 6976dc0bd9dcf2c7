"""Real servers for the tests that run a rendered container spec: a throwaway PostgreSQL cluster and a moto server
(S3, Secrets Manager), both on 127.0.0.1 and a free port; ``conftest.py`` starts one of each per test session.

moto keeps its state per Python process, not per server: every test names its buckets and secrets with
``unique_name`` so that no two tests of a session meet."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

POSTGRES_BIN = Path("/usr/lib/postgresql/15/bin")


def unique_name(prefix: str) -> str:
    """``prefix`` and 8 random hex digits: a bucket, secret or database name no other test of the session uses."""
    import uuid

    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@contextmanager
def running_moto() -> Iterator[str]:
    """A moto server on 127.0.0.1 and a free port; yields its URL."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str
    password: str
    database: str
    ca_file: Path | None = None
    """The CA that signed the server's certificate (with ``tls``)."""

    def uri(self, host: str = "127.0.0.1") -> str:
        return f"postgresql://{self.user}:{self.password}@{host}:{self.port}/{self.database}"


def postgres_bin() -> Path | None:
    """Where ``initdb`` and ``pg_ctl`` are: ``$MLOPS_POSTGRES_BIN`` (another major version's binaries), else
    Debian's PostgreSQL, else the first on ``PATH``."""
    chosen = os.environ.get("MLOPS_POSTGRES_BIN")
    if chosen:
        return Path(chosen) if (Path(chosen) / "initdb").exists() else None
    if (POSTGRES_BIN / "initdb").exists():
        return POSTGRES_BIN
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def server_certificate(directory: Path, host: str = "localhost") -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for ``host`` (and 127.0.0.1) signed by it: ``(ca, cert, key)``, so a
    client can connect with ``sslmode=verify-full`` as it does to a managed database."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mlops test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
              .issuer_name(ca_name).public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.DNSName(host),
                                                          x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False)
              .sign(ca_key, hashes.SHA256()))
    paths = directory / "ca.pem", directory / "server.pem", directory / "server.key"
    paths[0].write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(server.public_bytes(serialization.Encoding.PEM))
    paths[2].write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    paths[2].chmod(0o600)
    return paths


@contextmanager
def running_postgres(tls: bool = False, trusted_roles: tuple[str, ...] = ()) -> Iterator[Postgres]:
    """initdb + pg_ctl in a fresh directory under the system temp dir (pytest's own is private to its user); as
    ``nobody`` when running as root, because PostgreSQL refuses to run as root. With ``tls``, the server presents a
    certificate for localhost signed by a throwaway CA (``Postgres.ca_file``). ``trusted_roles`` sign in from
    127.0.0.1 without a password, as Cloud SQL admits what its Auth Proxy authenticated (every other role needs
    its password)."""
    binaries = postgres_bin()
    assert binaries is not None
    run_as: list[str] = []
    directory = Path(tempfile.mkdtemp(prefix="mlops-postgres-"))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(directory, nobody.pw_uid, nobody.pw_gid)
        run_as = ["runuser", "-u", "nobody", "--"]
    data, socket_dir = directory / "data", directory
    password_file = directory / "password"
    password_file.write_text("mlflow-test-password\n")
    if run_as:
        os.chown(password_file, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
    port = free_port()
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {socket_dir}"
    ca_file = None
    if tls:
        ca_file, cert, key = server_certificate(directory)
        for path in (cert, key):
            if run_as:
                os.chown(path, pwd.getpwnam("nobody").pw_uid, pwd.getpwnam("nobody").pw_gid)
        options += f" -c ssl=on -c ssl_cert_file={cert} -c ssl_key_file={key}"
    subprocess.run([*run_as, str(binaries / "initdb"), "-D", str(data), "-U", "mlflow", "--auth=scram-sha-256",
                    f"--pwfile={password_file}"], check=True, capture_output=True, timeout=120)
    if trusted_roles:
        hba = data / "pg_hba.conf"
        trusted = "".join(f'host all "{role}" 127.0.0.1/32 trust\n' for role in trusted_roles)
        hba.write_text(trusted + hba.read_text())
    subprocess.run([*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-l", str(directory / "log"), "-w", "-t", "60",
                    "-o", options, "start"],
                   check=True, capture_output=True, timeout=90)
    try:
        yield Postgres(port=port, user="mlflow", password="mlflow-test-password", database="postgres",
                       ca_file=ca_file)
    finally:
        subprocess.run([*run_as, str(binaries / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                       capture_output=True, timeout=60)
        shutil.rmtree(directory, ignore_errors=True)


def log_tail(path: Path | None, characters: int = 4000) -> str:
    """The end of a process's log, for a failure message."""
    if path is None or not path.exists():
        return ""
    return path.read_text(errors="replace")[-characters:]


def wait_for_http(url: str, seconds: float, process: subprocess.Popen | None = None,
                  auth: tuple[str, str] | None = None, log: Path | None = None) -> None:
    """Poll ``url`` until it answers 200, for at most ``seconds``. A failure says what the last attempt got (a status
    such as 403 says more than a timeout) and ends with the tail of ``log``, the process's output."""
    import base64
    import urllib.error
    import urllib.request

    deadline = time.monotonic() + seconds
    last = "no attempt"
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with {process.returncode} before {url} answered\n"
                               f"--- log tail ---\n{log_tail(log)}")
        try:
            request = urllib.request.Request(url)
            if auth is not None:
                request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
            with urllib.request.urlopen(request, timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as error:
            last = f"HTTP {error.code}"
        except OSError as error:
            last = f"{type(error).__name__}: {error}"
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer 200 within {seconds}s (last attempt: {last})\n"
                       f"--- log tail ---\n{log_tail(log)}")
