"""Certificates for the TLS servers of the tests: one test CA and the leaves each suite needs.

Good, expired, not yet valid, self-signed, for another host, with a weak key, signed by a leaf
that may not sign: each is a real X.509 certificate that Python's ssl module (and OpenSSL in
the probes) judges as it would a production one.
"""
from __future__ import annotations

import datetime
import ipaddress
from pathlib import Path
from typing import Any, Optional, Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

DAY = datetime.timedelta(days=1)
LOOPBACK = ("127.0.0.1",)


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _key(rsa_bits: Optional[int]) -> Any:
    if rsa_bits is None:
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=rsa_bits)


def _alternative_names(hosts: Sequence[str]) -> x509.SubjectAlternativeName:
    names: list = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return x509.SubjectAlternativeName(names)


class Issued:
    """A certificate and its key, as issued."""

    def __init__(self, certificate: Any, key: Any) -> None:
        self.certificate = certificate
        self.key = key

    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


class Authority:
    """A test CA writing into ``directory``: ``ca.pem`` (or ``ca_file``) at once, and each leaf
    as ``<stem>.pem`` with ``<stem>.key`` (mode 0600) when issued."""

    def __init__(self, directory: Path, name: str = "iaso tests CA",
                 ca_file: str = "ca.pem") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.now = datetime.datetime.now(datetime.timezone.utc)
        key = _key(None)
        self.root = Issued(self._sign(_name(name), key, _name(name), key, ca=True, hosts=(),
                                      start=self.now - DAY, end=self.now + 2 * DAY), key)
        self.ca_path = directory / ca_file
        self.ca_path.write_bytes(self.root.pem())

    def issue(self, stem: str, *, hosts: Sequence[str] = LOOPBACK, valid_from: float = -1,
              valid_until: float = 1, rsa_bits: Optional[int] = None,
              self_signed: bool = False, signer: Optional[Issued] = None,
              write: bool = True, suffix: str = ".pem") -> Issued:
        """A leaf for ``hosts``, valid from/until so many days from now, signed by the CA (or
        by ``signer``, its certificate then sent as the chain, or by itself)."""
        key = _key(rsa_bits)
        issuer = self.root if signer is None else signer
        issuer_name, issuer_key = (_name(stem), key) if self_signed else (
            issuer.certificate.subject, issuer.key)
        leaf = Issued(self._sign(_name(stem), key, issuer_name, issuer_key, ca=False,
                                 hosts=hosts, start=self.now + valid_from * DAY,
                                 end=self.now + valid_until * DAY), key)
        if write:
            chain = leaf.pem() + (signer.pem() if signer is not None else b"")
            (self.directory / f"{stem}{suffix}").write_bytes(chain)
            key_path = self.directory / f"{stem}.key"
            key_path.write_bytes(leaf.key_pem())
            key_path.chmod(0o600)
        return leaf

    @staticmethod
    def _sign(subject: x509.Name, key: Any, issuer: x509.Name, issuer_key: Any, *, ca: bool,
              hosts: Sequence[str], start: datetime.datetime, end: datetime.datetime) -> Any:
        builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False)
        if ca:
            builder = builder.add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        if hosts:
            builder = builder.add_extension(_alternative_names(hosts), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())
