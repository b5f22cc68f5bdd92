"""A board's files as host tools see them: one place that loads a board file, reads
config.json and board.json,
checks the config with the firmware's own rules (`evse.config.validate`, run in the unix port,
as `flash` does) and shows it with its secrets redacted.

    board, raw = load_board("unix-sim")        # boards/unix-sim.json, schema-checked
    cfg = check_config(json.load(f), board)    # ConfigInvalid with every (key, reason)
    files = read(link)                         # BoardFiles(config, board) from a BoardLink
    values, defaults = shown(cfg, board)       # real values (None when unset), secrets hidden
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from host_tools import BOARDS_DIR, FIRMWARE_DIR
from host_tools.deploy_errors import BoardFileInvalid, BuildFailed, ConfigInvalid, ToolMissing
from host_tools.micropython import micropython_binary

# Every key of config.json (evse.config._KEYS), the required ones first.
KEYS = ("charge_point_id", "csms_url", "public_code", "authorization_key", "ca_cert",
        "client_cert", "client_key", "public_url", "wifi", "connectors", "sim", "ocpp", "max_current_a",
        "phases", "update_trial_s")
REQUIRED = KEYS[:3]
REDACTED = "<redacted>"  # a secret that is set; an unset one is None
SECRETS = ("authorization_key", "client_key")  # and wifi.password: never printed back


# ============================================================================ board file
def board_path(name: str, boards_dir: str | os.PathLike = BOARDS_DIR) -> Path:
    """`unix-sim` -> boards/unix-sim.json; a path to a .json file is taken as it is."""
    p = Path(name)
    if p.suffix == ".json" and p.exists():
        return p
    return Path(boards_dir) / f"{name}.json"


def load_board(name: str, boards_dir: str | os.PathLike = BOARDS_DIR) -> tuple[dict, bytes]:
    """The board file (dict, raw bytes) after checking it against boards/schema.json."""
    import jsonschema

    boards_dir = Path(boards_dir)
    path = board_path(name, boards_dir)
    if not path.exists():
        known = sorted(p.stem for p in boards_dir.glob("*.json") if p.stem != "schema")
        raise BoardFileInvalid(f"no board file for {name!r} ({path})",
                               f"use one of: {', '.join(known) or '(none found)'}")
    raw = path.read_bytes()
    try:
        board = json.loads(raw)
    except ValueError as e:
        raise BoardFileInvalid(f"{path} is not valid JSON: {e}") from e
    schema_path = boards_dir / "schema.json"
    if not schema_path.exists():
        raise BoardFileInvalid(f"{schema_path} is missing: cannot check the board file")
    schema = json.loads(schema_path.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(board), key=lambda e: list(e.absolute_path))
    if errors:
        parts = []
        for e in errors[:5]:
            where = "/".join(str(x) for x in e.absolute_path) or "(top level)"
            parts.append(f"{where}: {e.message}")
        raise BoardFileInvalid(f"board file {path} refused by {schema_path.name}: " + "; ".join(parts),
                               "fix the board file; nothing was written")
    return board, raw



# ============================================================================ config rules
_VALIDATE = """
import json, sys
sys.path.insert(0, %r)
from evse import config as _c
cfg = json.loads(%r)
board = json.loads(%r)
errs = [list(e) for e in _c.validate(cfg, board)]
norm = getattr(_c, "normalize", None)
if norm and not errs:
    cfg = norm(cfg) or cfg
url = None
if not errs and hasattr(_c, "public_url"):
    url = _c.public_url(cfg)
print("@@RESULT" + json.dumps({"errors": errs, "config": cfg, "public_url": url}))
"""


def check_config(config: dict, board: dict | None,
                 firmware_dir: str | os.PathLike = FIRMWARE_DIR) -> dict:
    """Run the firmware's own `evse.config.validate(cfg, board)` in the unix port.

    Returns the config as the firmware would store it; raises ConfigInvalid with every
    (key, reason) the firmware reports.
    """
    return run_config_rules(config, board, firmware_dir)["config"]


def run_config_rules(config: dict, board: dict | None,
                     firmware_dir: str | os.PathLike = FIRMWARE_DIR) -> dict:
    """check_config's whole answer: {"config": as stored, "public_url": the QR code's URL}."""
    if not isinstance(config, dict):
        raise ConfigInvalid([("(top level)", "must be a JSON object")])
    firmware_dir = Path(firmware_dir).resolve()
    if not (firmware_dir / "evse" / "config.py").exists():
        raise BuildFailed(f"{firmware_dir}/evse/config.py is missing: cannot validate the config")
    script = _VALIDATE % (str(firmware_dir), json.dumps(config), json.dumps(board))
    env = dict(os.environ, MICROPYPATH=f"{firmware_dir}:.frozen")
    try:
        binary = micropython_binary()
        proc = subprocess.run([binary, "-c", script], capture_output=True,
                              text=True, timeout=30, env=env, cwd=tempfile.gettempdir())
    except subprocess.TimeoutExpired as e:
        raise BuildFailed("the config validator did not finish within 30 s") from e
    except (OSError, RuntimeError) as e:  # no such binary, not executable, none found
        where = os.environ.get("MICROPYTHON")
        raise ToolMissing(
            f"the MicroPython unix port, which checks the config with the firmware's own rules, "
            f"cannot be started{f' from MICROPYTHON={where}' if where else ''}: "
            f"{getattr(e, 'strerror', None) or e}",
            "run `make setup`, or set MICROPYTHON to the path of a micropython unix-port binary") from e
    for line in proc.stdout.splitlines():
        if line.startswith("@@RESULT"):
            result = json.loads(line[len("@@RESULT"):])
            if result["errors"]:
                raise ConfigInvalid([tuple(e) for e in result["errors"]])
            return result
    raise BuildFailed(f"the firmware's config validator failed: {(proc.stdout + proc.stderr).strip()[-800:]}")


def config_bytes(config: dict) -> bytes:
    return (json.dumps(config, indent=1, sort_keys=True) + "\n").encode()


def load_config_file(path: str | os.PathLike) -> dict:
    try:
        text = Path(path).read_text()
    except OSError as e:
        raise ConfigInvalid([("(file)", f"cannot read {path}: {e.strerror}")]) from e
    try:
        return json.loads(text)
    except ValueError as e:
        raise ConfigInvalid([("(file)", f"{path} is not valid JSON: {e}")]) from e


# ============================================================================ on the board
@dataclass
class BoardFiles:
    config: dict | None  # None: the board has no config.json
    board: dict | None


def read(link) -> BoardFiles:
    """config.json and board.json from a BoardLink; ConfigInvalid when one is not JSON."""
    def parse(name: str):
        raw = link.read_file(name)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except ValueError as e:
            raise ConfigInvalid([(name, f"not valid JSON on the board ({e}); write a good one "
                                  "with chargerctl flash --config FILE")], "the board's files") from e
    return BoardFiles(parse("config.json"), parse("board.json"))


# ============================================================================ shown to people
def redact(cfg: dict) -> dict:
    """Every known key with its real value (None when unset), secrets as REDACTED."""
    out = {k: cfg.get(k) for k in KEYS}
    out.update({k: v for k, v in cfg.items() if k not in out})
    for secret in SECRETS:
        if cfg.get(secret):
            out[secret] = REDACTED
    wifi = cfg.get("wifi")
    if isinstance(wifi, dict):
        out["wifi"] = dict(wifi, password=REDACTED if wifi.get("password") else None)
    ocpp = cfg.get("ocpp")
    if isinstance(ocpp, dict):  # OCPP keys: AuthorizationKey, and any a later feature names so
        out["ocpp"] = {k: REDACTED if secret_key(k) and v else v for k, v in ocpp.items()}
    return out


def shown(cfg: dict, board: dict | None) -> tuple[dict, dict]:
    """(redacted values, defaults): what the firmware uses for a key that is not set."""
    defaults: dict = {}
    if cfg.get("public_url") is None and cfg.get("public_code"):
        try:
            url = run_config_rules(cfg, board)["public_url"]
        except (ConfigInvalid, BuildFailed, ToolMissing):
            url = None
        if url:
            defaults["public_url"] = url
    if cfg.get("connectors") is None and isinstance(board, dict) and board.get("connectors"):
        defaults["connectors"] = len(board["connectors"])
    return redact(cfg), defaults


def secret_key(name) -> bool:
    """An OCPP key named like a secret (AuthorizationKey; not GetConfigurationMaxKeys)."""
    return isinstance(name, str) and re.search(r"(?i)(key|password|secret|token)(?!s)", name) is not None


def human(key: str, value, default=None) -> str:
    """One value as `config get` prints it."""
    if value is None:
        return f"{default} (default)" if default is not None else "not set"
    if key in SECRETS:
        return "set"
    if key in ("ca_cert", "client_cert") and isinstance(value, str):
        return f"set ({len(value)} bytes PEM)"
    if key == "wifi" and isinstance(value, dict):
        return (f"ssid {value.get('ssid')!r}, password "
                + ("set" if value.get("password") else "none (open network)"))
    return value if isinstance(value, str) else json.dumps(value)
