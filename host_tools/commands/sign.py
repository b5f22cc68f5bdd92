"""`chargerctl sign`: the signature a SignedUpdateFirmware request carries for a firmware file."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from host_tools.commands import CTX, fail, print_json
from host_tools.exits import Exit, epilog


@click.command("sign", context_settings=CTX, epilog=epilog(Exit.OK, Exit.ERROR, Exit.USAGE))
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--key", "key", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Private key of the signing certificate (PEM): RSA >= 2048 bits or EC P-256.")
@click.option("--cert", "cert", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The signing certificate (PEM), issued by a ManufacturerRootCertificate the board has.")
@click.option("--password", default=None, help="Password of an encrypted key.")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="File for the base64 signature. Default: FILE.sig beside FILE.")
@click.option("--json", "as_json", is_flag=True,
              help="Print the request's `firmware` fields (signature, signingCertificate) and the sha256 as JSON.")
def sign(file, key, cert, password, output, as_json):
    """Sign a firmware file (a `chargerctl bundle`) for SignedUpdateFirmware: SHA-256 of the
    whole file, RSA-PSS (MGF1-SHA-256, 32-byte salt) with an RSA key or ECDSA with a P-256
    key, written base64 as the request's `firmware.signature`.

    \b
    Example:
      chargerctl bundle --version 0.2.0 -o evse-0.2.0.bundle
      chargerctl sign evse-0.2.0.bundle --key signer.key --cert signer.pem
    """
    from host_tools.bundle_sign import SignError, sign_file

    texts = {}
    for what, path in (("key", key), ("certificate", cert)):
        try:
            texts[what] = path.read_bytes()
        except OSError as e:
            fail(f"cannot read the {what} {path}: {e.strerror or e}", Exit.ERROR, "check the path")
    try:
        signed = sign_file(file, texts["key"], texts["certificate"], password.encode() if password else None)
    except SignError as e:
        fail(str(e), Exit.ERROR, e.hint)
    except OSError as e:
        fail(f"cannot read {file}: {e.strerror or e}", Exit.ERROR, "check the path")
    output = output or file.with_name(file.name + ".sig")
    try:
        output.write_text(signed.signature + "\n")
    except OSError as e:
        fail(f"cannot write {output}: {e.strerror or e}", Exit.ERROR, "check that its folder exists and is writable")
    if as_json:
        print_json({"file": str(file), "signatureFile": str(output), "sha256": signed.sha256,
                    "algorithm": signed.algorithm,
                    "firmware": {"signature": signed.signature, "signingCertificate": signed.certificate}})
    else:
        click.echo(f"wrote {output}: {signed.algorithm} of {file} (sha256 {signed.sha256})")
    sys.exit(int(Exit.OK))
