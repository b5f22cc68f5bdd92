# A fresh flash folder per test on the unix port (the cwd is the flash root there). Kept out of
# mptest, which must stay small enough to load under the tests' smallest heap (--mp-heap 16k).
import binascii
import os

from mptest import requires_unix

_HOME = os.getcwd()  # the test file's folder: the runner starts there


def flash(tag="test"):
    """A fresh, empty flash folder as the cwd; done() removes it. `tag` names the test file in
    the folder's name, for a folder a failed test leaves behind."""
    requires_unix()
    os.chdir(_HOME)
    d = "/tmp/evse-%s-%s" % (tag, binascii.hexlify(os.urandom(3)).decode())
    os.mkdir(d)
    os.chdir(d)
    return d


def _rm(path):
    for name in os.listdir(path):
        p = path + "/" + name
        try:
            os.remove(p)
        except OSError:  # a folder
            _rm(p)
            os.rmdir(p)


def done(d):
    """Back to the test file's folder, with the flash folder `d` and all in it removed."""
    os.chdir(_HOME)
    _rm(d)
    os.rmdir(d)
