"""`chargerctl config get|set`: config.json on a connected board, by the firmware's own rules."""

from __future__ import annotations

import json
from pathlib import Path

import click

from host_tools import board_files as bf
from host_tools import flash as fl
from host_tools.commands import CTX, fail, print_json
from host_tools.commands.board import (
    finish,
    force_option,
    guard,
    open_link,
    port_option,
    restart_option,
)
from host_tools.exits import Exit, epilog

_JSON_KEYS = ("connectors", "sim", "ocpp", "max_current_a", "phases", "update_trial_s")
# Keys whose VALUE is the path of a PEM file on the host: (what it is, its armor line).
_PEM_FILES = {"ca_cert": ("CA certificate", "-----BEGIN CERTIFICATE-----"),
              "client_cert": ("charger certificate", "-----BEGIN CERTIFICATE-----"),
              "client_key": ("charger private key", "-----BEGIN PRIVATE KEY-----")}


def _key(name: str) -> str:
    if name not in bf.KEYS:
        fail(f"unknown config key {name!r}", Exit.USAGE,
             "use one of: " + ", ".join(bf.KEYS)
             + (" (the OCPP identity is charge_point_id)" if name in ("identity", "id") else ""))
    return name


def _read(port: str, force: bool, no_restart: bool, change=None):
    """Read the board's files (after asking the firmware), apply `change(files)` (which may
    write), restart. Errors leave the board restarted too: the firmware must run again."""
    from host_tools.board_link import BoardError, BoardUnreachable

    guard(port, force)
    link = open_link(port)
    try:
        files = bf.read(link)
        return files, (change(link, files) if change else None)
    except fl.ConfigInvalid as e:
        fail(str(e), e.exit_code, e.hint)
    except BoardUnreachable as e:
        fail(str(e), Exit.UNREACHABLE, "the board stopped answering; run the command again")
    except BoardError as e:
        fail(f"the board on {port} refused: {e}", Exit.BOARD_ERROR,
             "is its filesystem full or read-only?")
    finally:
        finish(link, not no_restart)


# config set checks the value with the firmware's own rules: BUILD when that check fails.
_CODES = (Exit.OK, Exit.USAGE, Exit.CONFIG, Exit.UNREACHABLE, Exit.BOARD_ERROR, Exit.BUILD,
          Exit.TRANSACTION_OPEN, Exit.TOOL_MISSING, Exit.STATE_UNKNOWN)


@click.group("config", context_settings=CTX)
def config():
    """Read or change config.json on a connected board.

    The tool interrupts the firmware to reach its REPL and restarts it afterwards
    (--no-restart leaves it at the REPL); it asks the firmware first and refuses while a
    charging session runs, unless --force. Secrets (authorization_key, the Wi-Fi password)
    are never printed back, nor is the charger's private key (client_key).

    \b
    Examples:
      chargerctl config get --port /dev/ttyUSB0
      chargerctl config get --port /dev/ttyUSB0 charge_point_id
      chargerctl config set --port /dev/ttyUSB0 csms_url wss://ocpp.example.com/ocpp
      chargerctl config set --port /dev/ttyUSB0 authorization_key      (prompts, hidden)
      chargerctl config set --port /dev/ttyUSB0 wifi MyNetwork --password s3cret-pw
      chargerctl config set --port /dev/ttyUSB0 ca_cert ./isrg-root-x1.pem
      chargerctl config set --port /dev/ttyUSB0 client_cert ./cp-0042.pem   (security profile 3,
      chargerctl config set --port /dev/ttyUSB0 client_key ./cp-0042.key    with ca_cert, wss://)
    """


@config.command("get", context_settings=CTX, epilog=epilog(*_CODES))
@port_option
@click.argument("key", required=False)
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON: real values (null when unset), secrets redacted, defaults apart.")
@force_option
@restart_option
def config_get(port, key, as_json, force, no_restart):
    """Show the board's config (or one KEY), secrets redacted.

    \b
    Examples:
      chargerctl config get --port /dev/ttyUSB0
      chargerctl config get --port /dev/pts/3 public_code --json
    """
    k = _key(key) if key else None
    files, _ = _read(port, force, no_restart)
    if files.config is None:
        fail(f"the board on {port} has no config.json", Exit.CONFIG,
             "provision it: chargerctl flash --port PORT --board NAME --config FILE")
    values, defaults = bf.shown(files.config, files.board)
    if k:
        if as_json:
            print_json({"key": k, "value": values.get(k), "default": defaults.get(k)})
        else:
            click.echo(bf.human(k, values.get(k), defaults.get(k)))
        return
    if as_json:
        print_json({"config": values, "defaults": defaults})
        return
    width = max(len(name) for name in values)
    for name, value in values.items():
        click.echo(f"{name.ljust(width)}  {bf.human(name, value, defaults.get(name))}")


@config.command("set", context_settings=CTX, epilog=epilog(*_CODES))
@port_option
@click.argument("key")
@click.argument("value", required=False)
@click.option("--password", default=None, help="With `wifi SSID`: the Wi-Fi password (prompted if left out).")
@click.option("--key", "key_file", default=None,
              help="With `client_cert PATH`: the path of its private key's PEM file (client_key), "
                   "set together.")
@click.option("--unset", is_flag=True, help="Remove an optional KEY instead of setting it.")
@force_option
@restart_option
def config_set(port, key, value, password, key_file, unset, force, no_restart):
    """Change one KEY of config.json on the board: checked by the firmware's own rules first,
    written atomically, then the board is restarted so it takes effect.

    \b
    KEY is one of: charge_point_id, csms_url, public_code, public_url,
    authorization_key (VALUE prompted and hidden when left out), wifi (VALUE = SSID,
    --password), ca_cert, client_cert, client_key (VALUE = path of a PEM file; the key is
    never printed back), connectors, sim, ocpp (JSON values).
    \b
    Examples:
      chargerctl config set --port /dev/ttyUSB0 charge_point_id CP-0042
      chargerctl config set --port /dev/ttyUSB0 public_code ABC123
      chargerctl config set --port /dev/ttyUSB0 authorization_key
      chargerctl config set --port /dev/ttyUSB0 wifi Depot-WLAN --password 'correct horse'
      chargerctl config set --port /dev/ttyUSB0 ca_cert ca.pem
      chargerctl config set --port /dev/ttyUSB0 client_cert cp.pem --key cp.key
      chargerctl config set --port /dev/ttyUSB0 public_url --unset
    """
    from host_tools.flash import DEPLOY_RECORD

    k = _key(key)
    if key_file is not None and k != "client_cert":
        fail("--key goes with client_cert only", Exit.USAGE,
             f"chargerctl config set --port {port} client_cert CERT.pem --key KEY.pem")
    # The charger's certificate and its key go together (security profile 3): set and removed
    # as a pair, a key alone may replace the key of the certificate already there.
    changes = {}
    if unset:
        if k in bf.REQUIRED:
            fail(f"{k} is required and cannot be removed", Exit.CONFIG,
                 f"set a new value: chargerctl config set --port {port} {k} VALUE")
        changes[k] = None
        if k in ("client_cert", "client_key"):
            changes = {"client_cert": None, "client_key": None}
    else:
        changes[k] = _parse_value(k, value, password)
        if key_file is not None:
            changes["client_key"] = _parse_value("client_key", key_file, None)

    def change(link, files):
        cfg = dict(files.config or {})
        for name, new_value in changes.items():
            if new_value is None:
                cfg.pop(name, None)
            else:
                cfg[name] = new_value
        try:
            checked = bf.check_config(cfg, files.board)
        except fl.ConfigInvalid as e:
            fail(str(e).replace("config refused", f"{k} refused"), e.exit_code, e.hint)
        except (fl.BuildFailed, fl.ToolMissing) as e:
            fail(str(e), e.exit_code, e.hint)
        # The record first: a link lost between the two steps must not leave a record that
        # claims the old config (the next flash then compares every file's hash again).
        link.remove(DEPLOY_RECORD)
        link.write_file("config.json", bf.config_bytes(checked))
        if k == "ca_cert" and not unset:
            # A CA the central system deleted (DeleteCertificate) is remembered by its hash in
            # data/certs/dropped, and the firmware ignores a ca_cert of that hash: one set here
            # again is the operator's word, so the note goes.
            link.remove("data/certs/dropped")
        return checked

    _files, checked = _read(port, force, no_restart, change)
    shown = bf.human(k, bf.redact(checked).get(k))
    click.secho(f"{k} = {shown}" + (" (board restarting)" if not no_restart
                                    else " (applies at the next boot)"), fg="green")


def _parse_value(key: str, value: str | None, password: str | None):
    if key == "authorization_key":
        if value is None or value == "-":
            value = click.prompt("authorization_key", hide_input=True, confirmation_prompt=True)
        return value
    if value is None:
        fail(f"{key} needs a VALUE", Exit.USAGE, f"chargerctl config set --port PORT {key} VALUE")
    if key in _PEM_FILES:
        what, armor = _PEM_FILES[key]
        try:
            return Path(value).read_text()
        except (OSError, UnicodeDecodeError) as e:
            fail(f"cannot read the {what} file {value}: {e.strerror if isinstance(e, OSError) else 'not text'}",
                 Exit.CONFIG, f"give the path of a PEM file ({armor})")
    if key == "wifi":
        if value.startswith("{"):
            return _json_value(key, value)
        if password is None:
            password = click.prompt("Wi-Fi password (empty for an open network)", hide_input=True,
                                    default="", show_default=False)
        return {"ssid": value, "password": password}
    if key in _JSON_KEYS:
        return _json_value(key, value)
    return value


def _json_value(key: str, value: str):
    try:
        return json.loads(value)
    except ValueError as e:
        fail(f"{key} needs a JSON value, got {value!r}: {e}", Exit.CONFIG,
             'e.g. connectors 2, sim \'{"ev_plugged": true}\'')
