#!/usr/bin/python3
"""Writes vectors.json: session_data strings made and decoded by the real
Django 3.2 (Debian's python3-django) and django-qsessions 1.1.4, for the
signing tests of package django (signing_test.go). Run it with the Python
that has Django:

	/usr/bin/python3 django/testdata/mkvectors.py

Each vector gives a session_data, the SECRET_KEY (and, for Django 4.1's
SECRET_KEY_FALLBACKS, which 3.2 lacks, the fallbacks) it is read with, and:

  valid    whether it carries a valid signature under those keys;
  django   what Django 3.2's SessionStore.decode returns for it ({} for
           anything it rejects; "error" when it raises instead);
  values   the session dict a reader that accepts it must return;
  json     for vectors Django signed at the fixed time below, the exact
           JSON bytes signed, so that Go's encoder can be checked byte for
           byte where no compression is involved.

It also writes auth hash vectors: the _auth_user_hash that Django computes
for a password field (AbstractBaseUser.get_session_auth_hash), and its
legacy sha1 form.
"""
import base64
import json
import os
import sys
import types
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "site"))

import django
from django.conf import settings

SECRET = "django-insecure-vector-secret-#1"
OLD_SECRET = "django-insecure-rotated-away-secret"
FIXED_TIME = 1767225600  # 2026-01-01T00:00:00Z

settings.configure(
    SECRET_KEY=SECRET,
    INSTALLED_APPS=["django.contrib.auth", "django.contrib.contenttypes", "qsessions"],
    SESSION_ENGINE="qsessions.backends.cached_db",
    SESSION_SERIALIZER="django.contrib.sessions.serializers.JSONSerializer",
    CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}},
    DATABASES={},
    USE_TZ=True,
)
django.setup()

import django.core.signing as signing
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.signing import JSONSerializer
from django.utils.crypto import salted_hmac
from qsessions.backends.cached_db import SessionStore

signing.time = types.SimpleNamespace(time=lambda: FIXED_TIME)

store = SessionStore()
SALT = store.key_salt
assert SALT == "django.contrib.sessions.SessionStore", SALT


def django_decode(data, secret=SECRET):
    with_key(secret)
    try:
        return SessionStore().decode(data)
    except Exception as e:  # Django 3.2 lets some errors through
        return "error: %s" % type(e).__name__
    finally:
        with_key(SECRET)


def with_key(secret):
    settings.SECRET_KEY = secret


def sign(obj, key=SECRET, salt=SALT, algorithm=None, compress=True):
    return signing.TimestampSigner(key, salt=salt, algorithm=algorithm).sign_object(
        obj, serializer=JSONSerializer, compress=compress
    )


def sign_raw(payload, key=SECRET, salt=SALT, algorithm=None):
    """Signs payload, the (possibly compressed) base64 part, as it is, with
    the fixed timestamp."""
    return signing.TimestampSigner(key, salt=salt, algorithm=algorithm).sign(payload)


def sign_untimed(value, key=SECRET, salt=SALT):
    """Signs value with no timestamp of its own: the signature is valid
    for a TimestampSigner, which takes the part after the last ":" of value
    for the timestamp."""
    return signing.Signer(key, salt=salt).sign(value)


vectors = []


def add(name, data, valid, values=None, secret=SECRET, fallbacks=(), signed_json=None, note=""):
    v = {
        "name": name,
        "secret": secret,
        "fallbacks": list(fallbacks),
        "session_data": data,
        "valid": valid,
        "django": django_decode(data, secret),
        "values": values if valid else None,
    }
    if signed_json is not None:
        v["json"] = signed_json.decode("latin-1")
        v["timestamp"] = FIXED_TIME
    if note:
        v["note"] = note
    vectors.append(v)


small = {"a": 1}
large = {"cart": ["item-%d" % (i % 7) for i in range(60)], "theme": "dark", "n": 12345678901234567890}
uni = {
    "name": "caf\u00e9 \u2615 \U0001d11e",
    "emoji": "\U0001f600",
    "ctl": "\x00\x1f\n\t\r\b\f\"\\/\x7f",
    "html": "<a href='x'>&amp;</a>",
    "sep": "\u2028\u2029",
    "nested": {"z": [1, 2.5, -0.0, 1e300, True, False, None], "a": {}},
}
auth = {
    "_auth_user_id": "1",
    "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
    "_auth_user_hash": "0" * 64,
    "_qsessions_ip": "127.0.0.1",
    "_qsessions_user_agent": "Mozilla/5.0",
    "_session_expiry": 3600,
    "cart": [1, 2],
}

# What Django's session store itself writes.
for name, d in [("small", small), ("large", large), ("unicode", uni), ("auth", auth), ("empty", {})]:
    data = store.encode(d)
    add(name, data, True, d, signed_json=JSONSerializer().dumps(d))
assert not vectors[0]["session_data"].startswith("."), "small must not be compressed"
assert vectors[1]["session_data"].startswith("."), "large must be compressed"

ok_small = store.encode(small)
ok_large = store.encode(large)

# Django 3.2 accepts sha1 signatures (Signer.legacy_algorithm), compressed or not.
add("sha1", sign(small, algorithm="sha1"), True, small, note="legacy sha1 signature, accepted by 3.2")
add("sha1-compressed", sign(large, algorithm="sha1"), True, large)
add("sha1-wrong-key", sign(small, key=OLD_SECRET, algorithm="sha1"), False)

# The pre-3.1 format: base64("<hex sha1 salted_hmac>:<json>").
add("legacy", store._legacy_encode(small), True, small, note="pre-3.1 format (hash:json, base64)")
add("legacy-unicode", store._legacy_encode(uni), True, uni)
legacy_other = base64.b64encode(
    salted_hmac("django.contrib.sessionsSessionStore", b'{"a":1}', OLD_SECRET).hexdigest().encode() + b':{"a":1}'
).decode()
add("legacy-wrong-key", legacy_other, False)
legacy_bad = base64.b64decode(store._legacy_encode(small))
legacy_bad = base64.b64encode(legacy_bad.replace(b'"a":1', b'"a":2')).decode()
add("legacy-tampered", legacy_bad, False)
add("legacy-no-colon", base64.b64encode(b"0123456789abcdef").decode(), False)

# Tampering.
payload, ts, sig = ok_small.split(":")
flip = lambda s, i: s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1 :]
add("tampered-payload", ":".join([flip(payload, 2), ts, sig]), False)
add("tampered-timestamp", ":".join([payload, flip(ts, 0), sig]), False)
add("tampered-signature", ":".join([payload, ts, flip(sig, 5)]), False)
cpayload = ok_large.split(":")[0]
add("tampered-compressed", ":".join([flip(cpayload, 10)] + ok_large.split(":")[1:]), False)
add("uncompressed-flag-added", "." + ok_small, False)
add("compressed-flag-removed", ok_large[1:], False)
add("truncated-half", ok_small[: len(ok_small) // 2], False)
add("truncated-signature", ok_small[:-1], False)
add("no-signature", ":".join([payload, ts]), False)
add("payload-only", payload, False)
add("empty-string", "", False)
add("garbage", "!!!not base64 at all:::", False)

# Other keys and salts.
add("wrong-key", sign(small, key=OLD_SECRET), False)
add("wrong-salt", sign(small, salt="django.core.signing"), False, note="signing.dumps' default salt")
add("cookie-salt", sign(small, salt="django.contrib.sessions.backends.signed_cookies"), False)
# Django 4.1's SECRET_KEY_FALLBACKS: 3.2 rejects it; a reader given the
# fallback accepts it.
add("fallback", sign(small, key=OLD_SECRET), True, small, fallbacks=[OLD_SECRET],
    note="signed with a key that SECRET_KEY_FALLBACKS lists (Django 4.1+); Django 3.2 has no fallbacks")
add("fallback-sha1", sign(small, key=OLD_SECRET, algorithm="sha1"), True, small, fallbacks=[OLD_SECRET])
add("fallback-not-listed", sign(small, key=OLD_SECRET), False, fallbacks=["some-other-old-key"])

# Valid signatures over contents that do not decode.
add("bad-zlib", sign_raw("." + signing.b64_encode(b"not zlib").decode()), False,
    note="valid signature, the compressed flag over bytes that are not zlib")
add("bad-json", sign_raw(signing.b64_encode(b"{not json").decode()), False)
add("not-an-object", sign_raw(signing.b64_encode(b"[1,2]").decode()), False,
    note="a JSON array: Django returns it, but it is no session dict")
add("bad-timestamp", sign_untimed(payload + ":!!"), False, note="valid signature, timestamp not base62")
add("no-timestamp", sign_untimed(payload), False, note="valid signature, no timestamp")
zbomb = zlib.compress(b'{"a":"' + b"a" * 2000 + b'"}')
add("compressed-not-shorter", sign_raw("." + signing.b64_encode(zbomb).decode()), True,
    {"a": "a" * 2000}, note="compressed by someone else: readers decompress whatever the flag says")
latin = b'{"k":"caf\xc3\xa9"}'
add("latin-1", sign_raw(signing.b64_encode(latin).decode()), True, json.loads(latin.decode("latin-1")),
    note="raw non-ASCII bytes: Django decodes JSON bytes as latin-1")

# The session of the package's Example: Django's login() of user 1, whose
# password field is EXAMPLE_PASSWORD, with two values.
EXAMPLE_PASSWORD = "md5$example$0123456789abcdef0123456789abcdef"


class ExampleUser(AbstractBaseUser):
    class Meta:
        app_label = "auth_example"


example = {
    "_auth_user_id": "1",
    "_auth_user_backend": "django.contrib.auth.backends.ModelBackend",
    "_auth_user_hash": ExampleUser(password=EXAMPLE_PASSWORD).get_session_auth_hash(),
    "_qsessions_ip": "203.0.113.9",
    "_qsessions_user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
    "cart": ["book", "pen"],
    "theme": "dark",
}
add("example", store.encode(example), True, example, signed_json=JSONSerializer().dumps(example),
    note="the Example's session; password field " + EXAMPLE_PASSWORD)

# _auth_user_hash vectors.
class FakeUser(AbstractBaseUser):
    class Meta:
        app_label = "auth_vectors"


auth_hashes = []
for password in ["md5$seed$0123456789abcdef0123456789abcdef", "pbkdf2_sha256$260000$salt$hash=", "", "\u00e9\u2615"]:
    u = FakeUser(password=password)
    auth_hashes.append(
        {
            "secret": SECRET,
            "password": password,
            "sha256": u.get_session_auth_hash(),
            "sha1": u._legacy_get_session_auth_hash(),
        }
    )

with open(os.path.join(HERE, "vectors.json"), "w") as f:
    json.dump({"django": django.get_version(), "salt": SALT, "sessions": vectors, "auth_hashes": auth_hashes}, f, indent=1)
    f.write("\n")
print("wrote %d session vectors and %d auth hashes" % (len(vectors), len(auth_hashes)))
