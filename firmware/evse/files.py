# Small JSON files on the flash filesystem, written atomically: a power cut mid-write leaves
# the old file or the new one, never half of either.
import json
import os


def load_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def save_json(path, obj):
    folder = path.rpartition("/")[0]
    if folder:
        try:
            os.mkdir(folder)
        except OSError:
            pass  # already there
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    replace(tmp, path)


def replace(tmp, path):
    """A file written completely at `tmp` takes the place of `path` in one step."""
    try:
        os.rename(tmp, path)
    except OSError:
        # FAT cannot rename over an existing file; LittleFS (the ESP32 default) and POSIX can.
        os.remove(path)
        os.rename(tmp, path)


def load_energy(path):
    """A meter's persisted energy register in Wh (0 when there is none yet)."""
    try:
        return float(load_json(path)["energy_wh"])
    except (KeyError, TypeError, ValueError):
        return 0.0


def remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
