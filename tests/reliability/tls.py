"""A throw-away certificate authority and a broker certificate for TLS tests, made with
the openssl command line (the `cryptography` package is not a dependency).

The broker certificate is valid for 127.0.0.1 and localhost, signed by the CA; the key is
unencrypted PKCS#8 PEM, which Kafka reads with ``ssl.keystore.type=PEM``."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path        # CA certificate (PEM): clients' and the broker's trust store
    broker_cert: Path    # broker certificate chain (PEM): leaf then CA
    broker_key: Path     # broker private key (unencrypted PKCS#8 PEM)
    broker_keystore: Path  # key + chain in one PEM file (ssl.keystore.location)


def _openssl(*args: str, cwd: Path) -> None:
    exe = shutil.which("openssl")
    if not exe:
        raise RuntimeError("openssl is not on PATH")
    proc = subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {proc.stderr[-2000:]}")


def make_ca_and_broker_cert(directory: Path, days: int = 2) -> TlsFiles:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    (d / "ca.ext").write_text(
        "basicConstraints=critical,CA:TRUE\n"
        "keyUsage=critical,keyCertSign,cRLSign\n"
        "subjectKeyIdentifier=hash\n"
    )
    (d / "broker.ext").write_text(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
        "subjectKeyIdentifier=hash\n"
        "authorityKeyIdentifier=keyid,issuer\n"
    )
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "ca.key", cwd=d)
    _openssl("req", "-new", "-key", "ca.key", "-subj", "/CN=claimflow test CA", "-out", "ca.csr", cwd=d)
    _openssl("x509", "-req", "-in", "ca.csr", "-signkey", "ca.key", "-days", str(days), "-sha256",
             "-extfile", "ca.ext", "-out", "ca.pem", cwd=d)
    _openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", "broker.key", cwd=d)
    _openssl("req", "-new", "-key", "broker.key", "-subj", "/CN=127.0.0.1", "-out", "broker.csr", cwd=d)
    _openssl("x509", "-req", "-in", "broker.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
             "-days", str(days), "-sha256", "-extfile", "broker.ext", "-out", "broker.crt", cwd=d)
    chain = d / "broker-chain.pem"
    chain.write_text((d / "broker.crt").read_text() + (d / "ca.pem").read_text())
    keystore = d / "broker-keystore.pem"
    keystore.write_text((d / "broker.key").read_text() + chain.read_text())
    for f in ("ca.key", "broker.key", "broker-keystore.pem"):
        (d / f).chmod(0o600)
    return TlsFiles(ca_cert=d / "ca.pem", broker_cert=chain, broker_key=d / "broker.key", broker_keystore=keystore)
