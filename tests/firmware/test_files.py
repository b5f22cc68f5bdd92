# evse.files: the one atomic JSON writer every persistent state file goes through.
import os

from evse.files import load_energy, load_json, remove, save_json

PATH = "data/files_test.json"


def test_save_then_load_round_trips_and_leaves_no_temp_file():
    save_json(PATH, {"a": [1, 2.5, "x"]})
    save_json(PATH, {"a": 2})  # over an existing file
    assert load_json(PATH) == {"a": 2}
    assert "files_test.json.tmp" not in os.listdir("data")
    remove(PATH)


def test_missing_or_corrupt_file_gives_the_default():
    remove(PATH)
    assert load_json(PATH, "none") == "none"
    with open(PATH, "w") as f:
        f.write('{"a": ')  # torn by a power cut on a filesystem without atomic rename
    assert load_json(PATH, {}) == {}
    remove(PATH)


def test_energy_register_is_zero_until_written_and_never_garbage():
    remove(PATH)
    assert load_energy(PATH) == 0.0
    save_json(PATH, {"energy_wh": 1234.5})
    assert load_energy(PATH) == 1234.5
    save_json(PATH, ["not", "a", "register"])
    assert load_energy(PATH) == 0.0
    remove(PATH)
    remove(PATH)  # removing twice is fine
