# Authorization: idTags waiting for Authorize and the authorization cache (data/auth.json: idTag
# -> status, what the central system last said). Cards at the reader and the Authorize request
# itself are in operations/Authorize.py.
from evse.files import load_json, remove, save_json

_FILE = const("data/auth.json")
_CACHE_MAX = const(32)


class Authorization:
    def __init__(self, cp):
        self.cp = cp
        self.cache = load_json(_FILE, None) or {}
        self.queue = []  # (connector id, idTag) waiting for Authorize

    def ask(self, cid, id_tag):
        # Authorize id_tag with the central system; connector cid acts on the answer.
        self.queue.append((cid, id_tag))
        self.cp.wake.set()

    def remember(self, id_tag, info):
        """An idTagInfo from the central system (Authorize, Start/StopTransaction) into the cache."""
        if not self.cp.settings["AuthorizationCacheEnabled"] or type(info) is not dict:
            return
        st = info.get("status")
        if self.cache.get(id_tag) != st:
            if len(self.cache) >= _CACHE_MAX and id_tag not in self.cache:
                self.cache.pop(next(iter(self.cache)))
            self.cache[id_tag] = st
            save_json(_FILE, self.cache)

    def clear(self):
        self.cache = {}
        remove(_FILE)
