"""Certificates over OCPP (security whitepaper ed. 2/3): InstallCertificate,
GetInstalledCertificateIds, DeleteCertificate, and the CAs the wss:// connection trusts, against
the `ocpp` central system over TLS on 127.0.0.1 with certificates made here by `cryptography`.

Named after the OCTT cases: TC_075_1 (install a manufacturer root), TC_076 (delete an installed
certificate), TC_078 (a server certificate no installed CA verifies); and a CA rotation: the
central system installs a new CentralSystemRootCertificate, switches its server certificate to
one of the new root, the charger reconnects with it and stays online, the old root is deleted.
The hashes the charger reports are compared with what the host computes (ed. 3, RFC 6960).
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import json
import os
import ssl
from pathlib import Path

import pytest
import pytest_asyncio
import websockets
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from ocpp.v16 import call

from tests.ocpp.conftest import Server, Station, assert_clean, board_build

pytestmark = pytest.mark.asyncio(loop_scope="module")

CS = "CentralSystemRootCertificate"
MF = "ManufacturerRootCertificate"
PER_TYPE = 4  # CertificateStoreMaxLength: per type (certstore.MAX_PER_TYPE)


@pytest.fixture(scope="session", params=["unix64"])
def mp_build(request) -> str:
    """64-bit for the shared station; the heap case picks its 32-bit build itself."""
    return request.param


# -- certificates, made at test time ------------------------------------------------------

def _now():
    return datetime.datetime.now(datetime.UTC)


def root(cn: str, kind: str = "ec", days: int = 30, ca: bool = True, issuer=None, pad: int = 0,
         ago: int = 1, serial: int | None = None):
    """(key, certificate) of a self-signed root (or one issued by `issuer` = (key, cert))."""
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ec" else \
        rsa.generate_private_key(65537, 1024 if kind == "rsa1024" else 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    signer, issuer_name = (key, name) if issuer is None else (issuer[0], issuer[1].subject)
    b = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
         .serial_number(serial or x509.random_serial_number())
         .not_valid_before(_now() - datetime.timedelta(days=ago)).not_valid_after(_now() + datetime.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if pad:  # an extension of `pad` bytes: a long certificate
        b = b.add_extension(x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\0" * pad),
                            critical=False)
    return key, b.sign(signer, hashes.SHA256())


def pem(cert) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def host_hash(cert) -> dict:
    """CertificateHashData of a self-signed root as the host computes it (RFC 6960 CertID:
    SHA-256 of the issuer Name DER and of the issuer key's BIT STRING value)."""
    pk = cert.public_key()
    if isinstance(pk, ec.EllipticCurvePublicKey):
        bits = pk.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    else:
        bits = pk.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    return {"hash_algorithm": "SHA256", "issuer_name_hash": hashlib.sha256(cert.issuer.public_bytes()).hexdigest(),
            "issuer_key_hash": hashlib.sha256(bits).hexdigest(), "serial_number": f"{cert.serial_number:x}"}


def canon(hash_data: list[dict]) -> list[str]:
    """A list of CertificateHashData in an order and form to compare."""
    return sorted(json.dumps(h, sort_keys=True) for h in hash_data)


def server_files(folder: Path, ca) -> tuple[Path, Path]:
    """A server certificate for 127.0.0.1 issued by `ca` (key, cert), and its key, as files."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
            .issuer_name(ca[1].subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - datetime.timedelta(days=1)).not_valid_after(_now() + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca[0], hashes.SHA256()))
    n = len(list(folder.glob("*.crt")))
    crt, k = folder / f"server{n}.crt", folder / f"server{n}.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    k.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return crt, k


# -- a central system over TLS --------------------------------------------------------------

class TlsServer(Server):
    """The conftest central system on wss://; `use()` switches its certificate for the
    connections that follow (OpenSSL takes a new chain into the same context)."""


    def __init__(self, files: tuple[Path, Path]):
        super().__init__()
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(*files)

    def use(self, files: tuple[Path, Path]):
        self.ctx.load_cert_chain(*files)

    async def start(self):
        self._srv = await websockets.serve(self._handler, "127.0.0.1", self.port, subprotocols=["ocpp1.6"],
                                           ssl=self.ctx)

    async def drop(self):
        """Close the charge point's connection: it connects again, through a new handshake."""
        for ws in self._conns:
            await ws.close()
        self._conns.clear()


class TlsStation(Station):
    def __init__(self, tmp: Path, lib: Path, micropython: str, ca, server_ca=None):
        super().__init__(tmp, lib, micropython)
        self.pki = tmp.parent / (tmp.name + "-pki")
        self.pki.mkdir(exist_ok=True)
        self.ca = ca
        self.server = TlsServer(server_files(self.pki, server_ca or ca))

    def write_config(self, connectors=1, ocpp_keys=None, sim=None):
        super().write_config(connectors, ocpp_keys, sim)
        path = self.tmp / "config.json"
        cfg = json.loads(path.read_text())
        cfg["csms_url"] = f"wss://127.0.0.1:{self.server.port}/ocpp"
        cfg["ca_cert"] = pem(self.ca[1])
        path.write_text(json.dumps(cfg))


PROVISIONED = root("Provisioned CSMS root")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def st(tmp_path_factory, firmware_lib, micropython):
    station = TlsStation(tmp_path_factory.mktemp("certs"), firmware_lib, micropython, PROVISIONED)
    await station.start()
    await station.booted()
    yield station
    await station.close()
    assert_clean(station)


async def install(st, cert_or_text, ctype=MF) -> str:
    text = cert_or_text if isinstance(cert_or_text, str) else pem(cert_or_text)
    return (await st.server.cp.call(call.InstallCertificate(certificate_type=ctype, certificate=text))).status


async def ids(st, ctype=MF):
    res = await st.server.cp.call(call.GetInstalledCertificateIds(certificate_type=ctype))
    return res.status, res.certificate_hash_data


async def delete(st, h: dict) -> str:
    return (await st.server.cp.call(call.DeleteCertificate(certificate_hash_data=h))).status


def stored(st) -> list[str]:
    folder = st.tmp / "data" / "certs"
    return sorted(p.name for p in folder.glob("*.der")) if folder.exists() else []


# -- the operations ---------------------------------------------------------------------------

async def test_tc075_1_install_manufacturer_root(st):
    """TC_075_1. ManufacturerRootCertificate: "Root certificate, used by the CA to sign the
    Manufacturer certificate"; InstallCertificate.conf Accepted: "The installation of the
    certificate succeeded." GetInstalledCertificateIds.conf Accepted ("Normal successful
    completion (no errors).") then lists it by its CertificateHashData, the hashes the host
    computes (whitepaper ed. 3, RFC 6960: issuerNameHash over the DER issuer name, issuerKeyHash
    over the issuer's public key bits, serialNumber in hex)."""
    assert await ids(st, MF) == ("NotFound", None)
    ec_root, rsa_root = root("Maker root EC")[1], root("Maker root RSA", "rsa")[1]
    assert await install(st, ec_root) == "Accepted"
    assert await install(st, rsa_root) == "Accepted"
    assert await install(st, rsa_root) == "Accepted"  # again: no second copy
    assert await install(st, rsa_root, CS) == "Accepted"  # the same as the other type: stored as that
    assert stored(st) == ["C1.der", "M1.der", "M2.der"]
    assert await delete(st, host_hash(rsa_root)) == "Accepted"  # every copy it names
    assert stored(st) == ["M1.der"]
    status, listed = await ids(st, MF)
    assert status == "Accepted"
    assert canon(listed) == canon([host_hash(ec_root)])
    assert await delete(st, host_hash(ec_root)) == "Accepted"
    assert stored(st) == []


async def test_delete_a_root_installed_as_both_types_keeps_the_one_in_use(st):
    """DeleteCertificate of a root the charger has as both types, one copy the
    CentralSystemRootCertificate its connection was verified with: the other copy is deleted
    (Accepted), the one in use stays; asked again, only the one in use is left: Failed."""
    assert await install(st, PROVISIONED[1], MF) == "Accepted"
    assert stored(st) == ["M1.der"]
    h = host_hash(PROVISIONED[1])
    assert await delete(st, h) == "Accepted"
    assert stored(st) == [] and (await ids(st, MF)) == ("NotFound", None)
    assert (await ids(st, CS)) == ("Accepted", [h])
    assert await delete(st, h) == "Failed"
    assert (st.tmp / "data" / "certs" / "inuse").read_text() == "P"


async def test_installed_central_system_roots_include_the_provisioned_ca(st):
    """GetInstalledCertificateIds.req certificateType CentralSystemRootCertificate ("Root
    certificate, used by the CA to sign the Central System and Charge Point certificate"): the
    CA the charger was provisioned with (config.json ca_cert) is an installed one, with the
    host's hash; the key CertificateStoreMaxLength (read-only, reference section 6) reports the
    store's bound."""
    status, listed = await ids(st, CS)
    assert status == "Accepted" and listed == [host_hash(PROVISIONED[1])]
    cfg = await st.server.cp.call(call.GetConfiguration(key=["CertificateStoreMaxLength"]))
    assert cfg.configuration_key == [{"key": "CertificateStoreMaxLength", "readonly": True, "value": str(PER_TYPE)}]


async def test_tc076_delete_certificate(st):
    """TC_076. DeleteCertificateStatus: Accepted "Normal successful completion (no errors)." (OCTT
    expects `Accepted`, not the prose's "Success"), NotFound "Requested resource not found.",
    Failed "Processing failure." (here: the CentralSystemRootCertificate the current connection
    was verified with; the reference: root in use -> Failed)."""
    c = root("Maker root to delete", serial=0xABC0FF)[1]
    assert await install(st, c) == "Accepted"
    h = host_hash(c)
    upper = {**h, "issuer_name_hash": h["issuer_name_hash"].upper(), "serial_number": "00" + h["serial_number"]}
    assert await delete(st, upper) == "Accepted"  # hex compared without case, serial without leading zeros
    assert await ids(st, MF) == ("NotFound", None)
    assert await delete(st, h) == "NotFound"
    assert await delete(st, {**h, "hash_algorithm": "SHA512"}) == "NotFound"
    in_use = host_hash(PROVISIONED[1])
    assert await delete(st, in_use) == "Failed"
    assert (await ids(st, CS))[1] == [in_use]
    assert (st.tmp / "data" / "certs" / "inuse").read_text() == "P"


async def test_malformed_certificates_are_rejected_and_nothing_stored(st):
    """InstallCertificate.conf Rejected: "The certificate is invalid and/or incorrect OR the CPO
    tries to install more certificates than allowed.": not PEM, PEM of garbage, DER longer than the store takes, expired, not a CA,
    not self-issued, an RSA key of 1024 bits, the type's store full (CertificateStoreMaxLength);
    nothing is stored."""
    expired = root("Old root", days=-1, ago=30)[1]
    not_ca = root("Leaf", ca=False)[1]
    issued = root("Intermediate", issuer=root("Some root"))[1]
    too_long = root("Padded root", pad=3000)[1]
    short_key = root("Weak root", "rsa1024")[1]  # the reference: "RSA >= 2048"
    assert len(pem(too_long)) < 5500  # within the schema: the charger's own bound refuses it
    garbage = "-----BEGIN CERTIFICATE-----\nMIIBAgMEBQYHCAkKCwwNDg8Q\n-----END CERTIFICATE-----\n"
    for bad in ("not a certificate", "", garbage, pem(expired)[:200] + pem(expired)[260:], expired, not_ca,
                issued, too_long, short_key):
        for ctype in (MF, CS):
            assert await install(st, bad, ctype) == "Rejected", bad
    assert stored(st) == []
    made = [root(f"Maker {i}")[1] for i in range(PER_TYPE + 1)]
    for c in made[:PER_TYPE]:
        assert await install(st, c) == "Accepted"
    assert await install(st, made[-1]) == "Rejected"  # the store is full
    assert len(stored(st)) == PER_TYPE
    assert await install(st, made[0]) == "Accepted"  # one already there is no new entry
    for c in made[:PER_TYPE]:
        assert await delete(st, host_hash(c)) == "Accepted"
    assert stored(st) == []


async def test_a_flash_that_will_not_store_it_is_failed(st):
    """InstallCertificate.conf Failed: "The certificate is valid and correct, but there is
    another reason the installation did not succeed." Here the store's folder cannot take a
    file (a plain file where the folder should be, as a flash gone read-only or full does):
    Failed, nothing half-written, and the next install, the flash fine again, is Accepted."""
    folder = st.tmp / "data" / "certs"
    aside = st.tmp / "data" / "certs.aside"
    folder.rename(aside)
    folder.write_text("not a folder")
    c = root("Maker on a bad flash")[1]
    try:
        assert await install(st, c) == "Failed"
        assert await ids(st, MF) == ("NotFound", None)
    finally:
        folder.unlink()
        aside.rename(folder)
    assert await install(st, c) == "Accepted"
    assert await delete(st, host_hash(c)) == "Accepted"
    assert stored(st) == []


async def test_malformed_messages_get_their_callerror(st):
    """Each field of the three CALLs malformed: the CALLERROR its schema violation names (OCPP-J
    4.2.3), nothing stored or deleted."""
    good = pem(root("Some maker")[1])
    h = {"hashAlgorithm": "SHA256", "issuerNameHash": "a" * 64, "issuerKeyHash": "b" * 64, "serialNumber": "1"}
    cases = [
        ("InstallCertificate", {"certificate": good}, "OccurenceConstraintViolation"),
        ("InstallCertificate", {"certificateType": "Other", "certificate": good}, "PropertyConstraintViolation"),
        ("InstallCertificate", {"certificateType": MF}, "OccurenceConstraintViolation"),
        ("InstallCertificate", {"certificateType": MF, "certificate": 5}, "TypeConstraintViolation"),
        ("InstallCertificate", {"certificateType": MF, "certificate": "x" * 5501}, "PropertyConstraintViolation"),
        ("InstallCertificate", {"certificateType": MF, "certificate": good, "extra": 1}, "FormationViolation"),
        ("GetInstalledCertificateIds", {}, "OccurenceConstraintViolation"),
        ("GetInstalledCertificateIds", {"certificateType": "CS"}, "PropertyConstraintViolation"),
        ("GetInstalledCertificateIds", {"certificateType": None}, "TypeConstraintViolation"),
        ("DeleteCertificate", {}, "OccurenceConstraintViolation"),
        ("DeleteCertificate", {"certificateHashData": "x"}, "TypeConstraintViolation"),
        ("DeleteCertificate", {"certificateHashData": {**h, "hashAlgorithm": "MD5"}}, "PropertyConstraintViolation"),
        ("DeleteCertificate", {"certificateHashData": {**h, "issuerNameHash": "a" * 129}},
         "PropertyConstraintViolation"),
        ("DeleteCertificate", {"certificateHashData": {**h, "serialNumber": "1" * 41}}, "PropertyConstraintViolation"),
        ("DeleteCertificate", {"certificateHashData": {k: v for k, v in h.items() if k != "serialNumber"}},
         "OccurenceConstraintViolation"),
        ("DeleteCertificate", {"certificateHashData": {**h, "extra": 1}}, "FormationViolation"),
    ]
    for n, (action, payload, code) in enumerate(cases):
        ans = await st.raw(json.dumps([2, f"c{n}", action, payload]))
        assert ans[0] == 4 and ans[2] == code, (action, payload, ans)
    assert stored(st) == []
    assert (await ids(st, CS))[0] == "Accepted"


async def test_power_cut_while_storing_keeps_the_store_readable(st):
    """A power cut while a certificate is written leaves the half-written file beside its name
    (certstore.py writes <name>.tmp and renames it): the store lists what it held, the next
    install clears the remains. Then a real power cut right after an InstallCertificate.req:
    after the restart the store reads, and holds the certificate or not, never part of it."""
    kept = root("Kept maker")[1]
    assert await install(st, kept) == "Accepted"
    half = kept.public_bytes(serialization.Encoding.DER)[:100]
    (st.tmp / "data" / "certs" / "M9.der.tmp").write_bytes(half)
    assert (await ids(st, MF)) == ("Accepted", [host_hash(kept)])
    second = root("Second maker")[1]
    assert await install(st, second) == "Accepted"
    assert not list((st.tmp / "data" / "certs").glob("*.tmp"))
    third = root("Third maker")[1]
    srv = st.server
    boots = len(srv.actions("BootNotification"))
    await srv.cp._connection.send(json.dumps([2, "cut", "InstallCertificate",
                                              {"certificateType": MF, "certificate": pem(third)}]))
    st.fw.kill()
    await srv.wait_msg("BootNotification", n=boots + 1, timeout=20)
    await st.fw.wait_log(r"boot accepted", n=2)
    status, listed = await ids(st, MF)
    assert status == "Accepted"
    two = [host_hash(kept), host_hash(second)]
    assert canon(listed) in (canon(two), canon([*two, host_hash(third)]))
    for c in (kept, second, third):
        await delete(st, host_hash(c))
    assert stored(st) == []


# -- the connection -------------------------------------------------------------------------

async def test_ca_rotation_keeps_the_charger_online(tmp_path, firmware_lib, micropython):
    """A CA rotation (issue 15: "A new root CA is tried before the old one is dropped, so a
    rotation never strands a charger; deleting the CA in use is refused"): the central system
    installs a new CentralSystemRootCertificate, switches to a server certificate of it, and
    deletes the old root. After the switch the charger's next handshake fails with the old
    root, it tries the installed new root, connects and stays online; the new root is then the
    one in use (deleting it Failed), the old one may go; after a power cut it connects with the
    new root alone."""
    new_root = root("New CSMS root")
    station = TlsStation(tmp_path, firmware_lib, micropython, PROVISIONED)
    srv = station.server
    try:
        await station.start()
        await station.booted()
        assert await install(station, new_root[1], CS) == "Accepted"
        status, listed = await ids(station, CS)
        assert status == "Accepted" and canon(listed) == canon(
            [host_hash(PROVISIONED[1]), host_hash(new_root[1])])
        srv.use(server_files(station.pki, new_root))
        conns = len(srv.cps)
        await srv.drop()
        await srv.wait(lambda: len(srv.cps) > conns, 20, "a connection verified by the new root")
        await station.fw.wait_log(r"ocpp ca=P refused")
        # online: the central system calls and the charger answers on the new connection
        assert (await ids(station, MF)) == ("NotFound", None)
        assert (tmp_path / "data" / "certs" / "inuse").read_text() == "C1"
        assert await delete(station, host_hash(new_root[1])) == "Failed"  # the one in use
        assert await delete(station, host_hash(PROVISIONED[1])) == "Accepted"  # the old root
        assert (await ids(station, CS)) == ("Accepted", [host_hash(new_root[1])])
        station.fw.kill()
        await station.fw.wait_log(r"boot accepted", n=2, timeout=20)
        assert len(station.fw.log_matches(r"ocpp ca=.* refused")) == 1  # after the power cut: the new root at once
    finally:
        await station.close()
    assert_clean(station)


async def test_tc078_server_certificate_of_an_unknown_ca_is_refused(tmp_path, firmware_lib, micropython):
    """TC_078. Security event InvalidCentralSystemCertificate: "The certificate that the Central
    System uses was not valid or could not be verified." A server certificate no installed CA
    verifies: no connection (no WebSocket, no credentials sent), the event logged and, once a
    connection is verified again, sent (reference section 6: sent where a flow says so)."""
    unknown = root("Unknown CA")
    station = TlsStation(tmp_path, firmware_lib, micropython, PROVISIONED, server_ca=unknown)
    srv = station.server
    try:
        await station.start()
        await station.fw.wait_log(r"ocpp invalid central system certificate", n=2, timeout=20)
        assert station.fw.log_matches(r"ocpp ca=P refused=.*not correctly signed")
        assert srv.cps == [] and srv.paths == []  # no WebSocket: the TLS handshake failed first
        # the right certificate again: it connects, and reports the event, once for the run
        srv.use(server_files(station.pki, PROVISIONED))
        await station.booted(timeout=20)
        ev = await srv.wait_msg("SecurityEventNotification", type="InvalidCentralSystemCertificate", timeout=20)
        assert "not correctly signed" in ev["tech_info"]
        log = [json.loads(x) for x in (tmp_path / "data" / "security.jsonl").read_text().splitlines()]
        assert [e["type"] for e in log].count("InvalidCentralSystemCertificate") == 1  # one for the run
    finally:
        await station.close()
    assert_clean(station)


# -- memory ---------------------------------------------------------------------------------

# An ESP32 without PSRAM: 112 KB of GC heap (../shared/reference/micropython-and-esp32.md), as
# tests/ocpp/test_local_list.py's full list. At test_memory.py's 80k the session's heap cannot
# even take the 1.2 KB frame of an RSA-2048 root (MemoryError in the WebSocket's receive, the
# connection closed and opened again), as for any CALL that size. CERT_HEAP=NNk runs another.
# Measured (RSA-2048 root, 1.2 KB frame; EC P-256 root): the smallest heap that answers Accepted
# is 92k (RSA) / 88k (EC) on unix32 .mpy, whose session starts at 70.8 KB, and 38k / 34k
# frozen (23.6 KB at start); below, the CALL is answered InternalError (MemoryError), nothing
# stored, nothing crashes. The frozen case runs in the ESP32's first heap region, 56 KB.
@pytest.mark.parametrize(("build", "heap"), [("unix32", os.environ.get("CERT_HEAP", "112k")),
                                             ("unix32-frozen", os.environ.get("CERT_HEAP_FROZEN", "56k"))])
async def test_install_certificate_heap_on_32_bits(tmp_path, tmp_path_factory, build, heap):
    """InstallCertificate of RSA-2048 roots, one long (2.4 KB of DER), of both types, and their
    listing, on the 32-bit .mpy build in an ESP32's heap (a ws:// session: a wss:// one needs
    more for mbedtls anyway): Accepted, no MemoryError, no restart."""
    binary, lib = board_build(build, tmp_path_factory)
    flash = tmp_path / "flash"
    flash.mkdir()
    station = Station(flash, lib, binary)  # ws://: test_memory.py's session, whose limits these are
    station.fw.heap = heap
    try:
        await station.start()
        await station.booted()
        big = root("Long maker root", "rsa", pad=1800)[1]
        assert len(big.public_bytes(serialization.Encoding.DER)) < 2560
        for c, ctype in ((root("Maker RSA", "rsa")[1], MF), (big, MF), (root("CS RSA", "rsa")[1], CS)):
            assert await install(station, c, ctype) == "Accepted"
        assert len((await ids(station, MF))[1]) == 2
        assert len((await ids(station, CS))[1]) == 1
        assert station.fw.exits == []
    finally:
        print("\n".join(station.fw.lines))  # the heap figures, for the report
        await station.close()
    assert_clean(station)
