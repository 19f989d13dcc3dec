"""Fixtures for the Python binding tests: the generated module and the emulator over loopback HTTP.

OUTPOST_BINDINGS_DIR points at the output of bindings/scripts/generate.sh (python/outpost.py and
lib/liboutpost_ffi.so, built with --test-hooks); OUTPOST_EMULATOR_BIN at the emulator binary.
"""

import base64
import hashlib
import hmac
import html
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

BINDINGS = os.environ.get("OUTPOST_BINDINGS_DIR", os.path.join(os.path.dirname(__file__), "../../../target/bindings-test"))
EMULATOR = os.environ.get("OUTPOST_EMULATOR_BIN", os.path.join(os.path.dirname(__file__), "../../../target/debug/outpost-emulator"))


def _module_dir():
    d = tempfile.mkdtemp(prefix="outpost-py-")
    shutil.copy(os.path.join(BINDINGS, "python", "outpost.py"), d)
    for f in os.listdir(os.path.join(BINDINGS, "lib")):
        shutil.copy(os.path.join(BINDINGS, "lib", f), d)
    return d


sys.path.insert(0, _module_dir())


class Emulator:
    def __init__(self, rows):
        self.proc = subprocess.Popen([EMULATOR, "--port", "0", "--rows", str(rows), "--json"],
                                     stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self.proc.stdout.readline())
        self.base = self.info["base_url"]
        self.users = {u["upn"]: u for u in self.info["users"]}

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)

    def control(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.info["control"] + path, data=data, method=method,
                                     headers={"content-type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            text = r.read()
        return json.loads(text) if text else None

    def config(self, outpost, **extra):
        return outpost.ClientConfig(org_url=self.info["org_url"], client_id=self.info["client_id"],
                                    redirect_uri="http://127.0.0.1:53682",
                                    authority=self.info["authority"], **extra)


@pytest.fixture()
def emulator():
    emu = Emulator(rows=300)
    yield emu
    emu.stop()


@pytest.fixture()
def vault_dir():
    d = tempfile.mkdtemp(prefix="outpost-vault-")
    yield os.path.join(d, "vault")
    shutil.rmtree(d, ignore_errors=True)


def totp(secret_b32, at=None):
    """RFC 6238: HMAC-SHA1, 30 s, 6 digits."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = struct.pack(">Q", int((at or time.time()) // 30))
    mac = hmac.new(key, counter, hashlib.sha1).digest()
    off = mac[19] & 0x0F
    return "%06d" % ((struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 1_000_000)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _send(url, form=None):
    data = None if form is None else urllib.parse.urlencode(form).encode()
    try:
        with _opener.open(urllib.request.Request(url, data=data), timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read().decode()


def _form(page):
    m = re.search(r'<form[^>]*action="([^"]+)"', page)
    hidden = re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page)
    return html.unescape(m.group(1)), [(k, html.unescape(v)) for k, v in hidden]


def drive_pages(emu, url, user, code=None):
    """Complete the emulator's sign-in pages as a browser would; return the final redirect URL
    (authorization code flow) or None (device flow, after the confirmation)."""
    status, headers, page = _send(url)
    confirmed = False
    for _ in range(12):
        if status in (301, 302, 303):
            location = urllib.parse.urljoin(url, headers["location"])
            if location.startswith("http://127.0.0.1:53682"):
                return location
            url = location
            status, headers, page = _send(url)
            continue
        if "<form" not in page:
            assert confirmed, page
            return None
        action, fields = _form(page)
        if 'id="i0116"' in page:
            fields += [("loginfmt", user["upn"]), ("passwd", user["password"])]
        elif "idTxtBx_SAOTCC_OTC" in page:
            fields += [("otc", totp(user["totp_secret"]))]
        elif "idBtn_Accept" in page:
            fields += [("decision", "accept")]
        elif 'id="deviceconfirm"' in page:
            fields += [("decision", "continue")]
            confirmed = True
        elif 'id="devicecode"' in page:
            fields += [("otc", code)]
        else:
            raise AssertionError("unexpected page: " + page[:500])
        url = urllib.parse.urljoin(url, action)
        status, headers, page = _send(url, fields)
    raise AssertionError("too many pages")
