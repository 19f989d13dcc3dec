"""The generated Python module against the real library and the emulator: the glue (async calls,
callbacks, errors, cancellation, panics), not the core's logic again."""

import asyncio
import threading
from decimal import Decimal

import pytest

import outpost
from conftest import drive_pages

PASSWORD = "offline pass+/=word".encode()
FAST_KDF = outpost.KdfParams(memory_kib=19456, iterations=2, parallelism=1)


class Events(outpost.SyncObserver):
    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def on_event(self, event):
        with self.lock:
            self.events.append(event)

    def of(self, kind):
        with self.lock:
            return [e for e in self.events if isinstance(e, kind)]


async def new_client(emulator, vault_dir, **config):
    client = outpost.OutpostClient(vault_dir, emulator.config(outpost, **config))
    await client.create_vault(PASSWORD, outpost.VaultOptions(kdf=FAST_KDF))
    return client


async def sign_in_alice(emulator, client):
    request = await client.begin_sign_in(outpost.SignInOptions(login_hint="alice@contoso.test"))
    redirect = await asyncio.to_thread(drive_pages, emulator, request.url, emulator.users["alice@contoso.test"])
    return await client.complete_sign_in(redirect)


def test_whole_flow(emulator, vault_dir):
    async def flow():
        client = await new_client(emulator, vault_dir)
        assert client.is_unlocked() and client.vault_exists()
        account = await sign_in_alice(emulator, client)
        assert account.username == "alice@contoso.test"

        events = Events()
        summary = await client.sync(outpost.SyncOptions(), events)
        assert summary.rows_pulled == 300 and summary.complete
        assert {t.entity_set for t in summary.tables} == {"accounts", "contacts", "tasks"}
        assert all(t.error is None for t in summary.tables)
        progress = events.of(outpost.SyncEvent.PROGRESS)
        assert progress and progress[-1].rows > 0
        assert {e.entity_set for e in events.of(outpost.SyncEvent.INITIAL_SYNC_COMPLETE)} == {"accounts", "contacts", "tasks"}

        # typed conditions, $filter text, ordering, keyset pages
        q = outpost.Query(conditions=[outpost.Condition(column="name", compare=outpost.Compare.STARTS_WITH,
                                                        value=outpost.Value.TEXT("Contoso"))],
                          order_by=[outpost.OrderBy(column="name")], limit=2)
        page = await client.query("accounts", q)
        assert len(page.records) <= 2 and all(r.values["name"].value.startswith("Contoso") for r in page.records)
        seen, after = [], None
        while True:
            p = await client.query("accounts", outpost.Query(filter="numberofemployees ge 0", limit=70, after=after))
            seen += [r.id for r in p.records]
            if p.next is None:
                break
            after = p.next
        assert len(seen) == len(set(seen)) == 150
        first = (await client.query("accounts", outpost.Query(limit=1))).records[0]
        revenue = first.values["revenue"]
        assert isinstance(revenue, outpost.Value.DECIMAL) and Decimal(revenue.text) > 0
        with pytest.raises(outpost.OutpostError.InvalidArgument):
            await client.query("accounts", outpost.Query(filter="name eq"))

        # search, create with a lookup, update, push
        name = first.values["name"].value
        hits = await client.search("accounts", name, 5)
        assert hits[0].id == first.id
        contact = await client.create("contacts", {
            "lastname": outpost.Value.TEXT("Whitfield"),
            "parentcustomerid": outpost.Value.LOOKUP(entity_set="accounts", id=first.id),
        })
        await client.update("accounts", first.id, {"telephone1": outpost.Value.TEXT("+1 555 0100")})
        created = await client.get("contacts", contact)
        assert created.state == outpost.RecordState.CREATED
        assert created.values["parentcustomerid"] == outpost.Value.LOOKUP(entity_set="accounts", id=first.id)
        assert (await client.status()).pending == 2
        pushed = await client.sync(outpost.SyncOptions(), None)
        assert pushed.pushed == 2 and pushed.pending == 0
        assert (await client.get("contacts", contact)).state == outpost.RecordState.SYNCED
        status = await client.status()
        assert status.signed_in and status.account.username == "alice@contoso.test"

        # lock, a wrong password as its exception class, unlock
        client.lock()
        with pytest.raises(outpost.OutpostError.Locked):
            await client.get("accounts", first.id)
        with pytest.raises(outpost.OutpostError.WrongPassword) as wrong:
            await client.unlock(b"not the password")
        assert wrong.value.attempts_left == 9
        assert client.vault_status().attempts_left == 9
        await client.unlock(PASSWORD)
        assert (await client.get("accounts", first.id)).values["telephone1"] == outpost.Value.TEXT("+1 555 0100")
        # The default password policy refuses a guessable new password, saying why.
        with pytest.raises(outpost.OutpostError.WeakPassword) as weak:
            await client.change_password(PASSWORD, b"new password")
        assert weak.value.reason.startswith("too easy to guess")
        await client.change_password(PASSWORD, b"a new pass phrase")
        client.lock()
        await client.unlock(b"a new pass phrase")
        await client.wipe()
        assert not client.vault_exists()

    asyncio.run(flow())


def test_device_code_sign_in(emulator, vault_dir):
    class Code(outpost.DeviceCodeCallback):
        def __init__(self):
            self.info = None
            self.shown = threading.Event()

        def on_code(self, info):
            self.info = info
            self.shown.set()

    async def flow():
        client = await new_client(emulator, vault_dir)
        code = Code()

        def user():
            assert code.shown.wait(30)
            drive_pages(emulator, code.info.verification_uri, emulator.users["bob@contoso.test"], code.info.user_code)

        helper = threading.Thread(target=user)
        helper.start()
        account = await client.sign_in_with_device_code(code)
        helper.join()
        assert account.username == "bob@contoso.test"
        assert "devicelogin" in code.info.verification_uri

    asyncio.run(flow())


def test_sign_in_errors_are_typed(emulator, vault_dir):
    async def flow():
        client = await new_client(emulator, vault_dir, allow_password_grant=True)
        with pytest.raises(outpost.OutpostError.MfaRequired) as mfa:
            await client.sign_in_with_password("alice@contoso.test", b"Alice+Secret/1=")
        assert 50076 in mfa.value.details.error_codes
        with pytest.raises(outpost.OutpostError.BadCredentials):
            await client.sign_in_with_password("bob@contoso.test", b"wrong")
        with pytest.raises(outpost.OutpostError.InteractionRequired):
            await client.sync(outpost.SyncOptions(), None)

    asyncio.run(flow())


def test_cancelling_a_running_sync(emulator, vault_dir):
    async def flow():
        client = await new_client(emulator, vault_dir, allow_password_grant=True,
                                  profile_toml='[[tables]]\nentity_set = "accounts"\ncolumns = ["name"]\npage_size = 10\n')
        await client.sign_in_with_password("bob@contoso.test", b"Bob+Secret/2=")
        emulator.control("POST", "/faults", {"path_contains": "accounts", "delay_ms": 300, "count": 1000})
        events = Events()
        task = asyncio.ensure_future(client.sync(outpost.SyncOptions(), events))
        for _ in range(200):
            if any(e.rows > 0 for e in events.of(outpost.SyncEvent.PROGRESS)):
                break
            await asyncio.sleep(0.05)
        assert any(e.rows > 0 for e in events.of(outpost.SyncEvent.PROGRESS)), "the sync applied a page"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # the client keeps working, and the next sync resumes
        emulator.control("DELETE", "/faults")
        rows = (await client.status()).tables[0].rows
        assert 0 < rows < 150
        summary = await client.sync(outpost.SyncOptions(), None)
        assert summary.complete and (await client.status()).tables[0].rows == 150

    asyncio.run(flow())


def test_cancel_sync_handle(emulator, vault_dir):
    async def flow():
        client = await new_client(emulator, vault_dir, allow_password_grant=True,
                                  profile_toml='[[tables]]\nentity_set = "accounts"\ncolumns = ["name"]\npage_size = 10\n')
        await client.sign_in_with_password("bob@contoso.test", b"Bob+Secret/2=")
        emulator.control("POST", "/faults", {"path_contains": "accounts", "delay_ms": 300, "count": 1000})
        events = Events()
        task = asyncio.ensure_future(client.sync(outpost.SyncOptions(), events))
        while not any(e.rows > 0 for e in events.of(outpost.SyncEvent.PROGRESS)):
            await asyncio.sleep(0.05)
        client.cancel_sync()
        with pytest.raises(outpost.OutpostError.Cancelled):
            await task

    asyncio.run(flow())


@pytest.mark.parametrize("site", ["call", "writer", "task"])
def test_panics_become_internal_errors(emulator, vault_dir, site):
    async def flow():
        client = await new_client(emulator, vault_dir, allow_password_grant=True)
        await client.sign_in_with_password("bob@contoso.test", b"Bob+Secret/2=")
        await client.sync(outpost.SyncOptions(), None)
        for _ in range(2):
            with pytest.raises(outpost.OutpostError.Internal) as e:
                await client.debug_panic(site)
            assert "panic" in e.value.reason
        # still working: reads, writes (on the same writer) and a sync
        any_id = (await client.query("accounts", outpost.Query(limit=1))).records[0].id
        await client.update("accounts", any_id, {"telephone1": outpost.Value.TEXT("after the panic")})
        assert (await client.sync(outpost.SyncOptions(), None)).pushed == 1

    asyncio.run(flow())


def test_host_callbacks_that_throw_do_not_break_the_sync(emulator, vault_dir):
    class Broken(outpost.SyncObserver):
        def on_event(self, event):
            raise RuntimeError("observer bug")

    async def flow():
        client = await new_client(emulator, vault_dir, allow_password_grant=True)
        await client.sign_in_with_password("bob@contoso.test", b"Bob+Secret/2=")
        assert (await client.sync(outpost.SyncOptions(), Broken())).rows_pulled == 300

    asyncio.run(flow())


def test_platform_key_unlock(emulator, vault_dir):
    class Key(outpost.PlatformKeyProvider):
        def __init__(self):
            self.secret = bytes(range(32))
            self.invalidated = False

        async def wrap(self, data_key):
            return b"PK1" + bytes(a ^ b for a, b in zip(data_key, self.secret))

        async def unwrap(self, blob):
            if self.invalidated:
                raise outpost.PlatformKeyError.Invalidated()
            return bytes(a ^ b for a, b in zip(blob[3:], self.secret))

    async def flow():
        # Async host callbacks run on this event loop; uniffi must be told which one, since the
        # calls come from Outpost's threads.
        outpost.uniffi_set_event_loop(asyncio.get_running_loop())
        client = await new_client(emulator, vault_dir)
        key = Key()
        await client.add_platform_slot(key)
        client.lock()
        assert client.vault_status().has_platform_slot
        await client.unlock_with_platform(key)
        assert client.is_unlocked()
        client.lock()
        key.invalidated = True
        with pytest.raises(outpost.OutpostError.PlatformKeyInvalidated):
            await client.unlock_with_platform(key)
        await client.unlock(PASSWORD)

    asyncio.run(flow())


def test_host_token_provider(emulator, vault_dir):
    """Compliant-device tenants: the app supplies the tokens (MSAL with its broker in a real app;
    here the emulator's password grant). Outpost asks for every request, keeps no refresh token,
    and refuses its own sign-in flows meanwhile."""
    import json as _json
    import urllib.parse as _parse
    import urllib.request as _request

    def password_token(scope):
        form = _parse.urlencode({
            "grant_type": "password", "client_id": emulator.info["client_id"],
            "username": "bob@contoso.test", "password": emulator.users["bob@contoso.test"]["password"],
            "scope": scope,
        }).encode()
        authority = emulator.info["authority"].removesuffix("/v2.0")
        with _request.urlopen(authority + "/oauth2/v2.0/token", data=form, timeout=30) as r:
            return _json.loads(r.read())["access_token"]

    class Host(outpost.HostTokenProvider):
        def __init__(self):
            self.asked = []
            self.refuse = False

        async def token(self, scopes, claims):
            self.asked.append((list(scopes), claims))
            if self.refuse:
                raise outpost.HostTokenError.InteractionRequired(claims=None)
            return await asyncio.to_thread(password_token, " ".join(scopes))

    async def flow():
        outpost.uniffi_set_event_loop(asyncio.get_running_loop())
        client = await new_client(emulator, vault_dir)
        host = Host()
        client.set_token_provider(host)
        summary = await client.sync(outpost.SyncOptions(), None)
        assert summary.rows_pulled == 300
        assert host.asked and host.asked[0][0] == [emulator.info["org_url"] + "/user_impersonation"]
        with pytest.raises(outpost.OutpostError.InvalidArgument):
            await client.begin_sign_in(outpost.SignInOptions())
        grants = [e.get("grant_type") for e in emulator.control("GET", "/requests")["requests"]
                  if "/oauth2/v2.0/token" in e["path"]]
        assert "refresh_token" not in grants
        # The provider's "needs the user" reaches the app as InteractionRequired.
        host.refuse = True
        client.lock()
        await client.unlock(PASSWORD)
        with pytest.raises(outpost.OutpostError.InteractionRequired):
            await client.sync(outpost.SyncOptions(), None)
        # Without the provider, Outpost's own sign-in is back (and nobody is signed in).
        client.set_token_provider(None)
        assert not (await client.status()).signed_in

    asyncio.run(flow())


def test_refused_passwords_as_typed_errors(emulator, vault_dir):
    """The refusal limit through the bindings: `refuse_after` reaches the core, the refusal is
    its own exception class, and the status says so (issue 16, defect 2)."""

    async def flow():
        # Earlier tests handed uniffi their own (now closed) event loop: hand it this one.
        outpost.uniffi_set_event_loop(asyncio.get_running_loop())
        client = outpost.OutpostClient(vault_dir, emulator.config(outpost))
        options = outpost.VaultOptions(
            kdf=FAST_KDF,
            max_attempts=2,
            on_limit=outpost.OnLimit.DELAY(base_s=0, max_s=0),
            refuse_after=3,
        )
        await client.create_vault(PASSWORD, options)
        client.lock()
        with pytest.raises(outpost.OutpostError.WrongPassword):
            await client.unlock(b"guess 1")
        with pytest.raises(outpost.OutpostError.LockedOut):
            await client.unlock(b"guess 2")
        with pytest.raises(outpost.OutpostError.PasswordRefused):
            await client.unlock(b"guess 3")
        assert client.vault_status().password_refused
        with pytest.raises(outpost.OutpostError.PasswordRefused):
            await client.unlock(PASSWORD)
        assert not client.is_unlocked()

    asyncio.run(flow())
