//! The world of the sync tests: an emulator, a signed-in client with a real vault, direct
//! server access as admin, and exact comparisons of local and server rows.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use outpost_core::sync::{SyncConfig, SyncEngine, SyncOptions, SyncProfile, SyncSummary};
use outpost_core::{Auth, OrgUrl, Query, Store, Value, Values, Vault};
use outpost_emulator::{defaults, Emulator, EmulatorConfig, EmulatorHandle};
use serde_json::value::RawValue;

use super::{create, emulator_auth_config, password_token};

pub const LOOKUP: &str = "@Microsoft.Dynamics.CRM.lookuplogicalname";

pub fn emulator(a: u32, c: u32, t: u32) -> EmulatorHandle {
    Emulator::start(EmulatorConfig::default().with_rows(a, c, t)).unwrap()
}

pub struct Client {
    pub _dir: tempfile::TempDir,
    pub vault: Vault,
    pub engine: SyncEngine,
}

impl Client {
    pub fn store(&self) -> Arc<Store> {
        self.vault.shared_store()
    }

    pub async fn sync(&self) -> SyncSummary {
        self.sync_with(SyncOptions::default()).await
    }

    pub async fn sync_with(&self, options: SyncOptions) -> SyncSummary {
        let s = self.engine.sync(options, Arc::new(outpost_core::sync::NoObserver)).await.unwrap();
        for t in &s.tables {
            assert!(t.error.is_none(), "{}: {:?}", t.entity_set, t.error);
        }
        s
    }
}

pub fn test_config() -> SyncConfig {
    let mut c = SyncConfig::default();
    c.retry.base_delay = Duration::from_millis(50);
    c
}

pub async fn client_with(emu: &EmulatorHandle, profile: SyncProfile, config: SyncConfig) -> Client {
    client_in(tempfile::tempdir().unwrap(), emu, profile, config).await
}

/// A client whose vault lives in `dir`.
pub async fn client_in(
    dir: tempfile::TempDir,
    emu: &EmulatorHandle,
    profile: SyncProfile,
    config: SyncConfig,
) -> Client {
    let vault = create(dir.path());
    let org = OrgUrl::parse(emu.org_url()).unwrap();
    let auth = Auth::new(emulator_auth_config(emu.org_url(), &emu.authority(), &emu.client_id()), vault.shared_store())
        .unwrap();
    auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    let engine = SyncEngine::new(vault.shared_store(), Arc::new(auth), &org, profile, config).unwrap();
    Client { _dir: dir, vault, engine }
}

pub async fn client(emu: &EmulatorHandle) -> Client {
    client_with(emu, SyncProfile::default_profile(), test_config()).await
}

/// Direct Web API access as another user (admin), for server-side changes and checks.
pub struct Server {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
}

impl Server {
    pub async fn new(emu: &EmulatorHandle) -> Server {
        let token = password_token(emu, defaults::ADMIN, defaults::ADMIN_PASSWORD).await;
        Server { base: emu.web_api_url(), token, http: reqwest::Client::new() }
    }

    pub async fn send(&self, method: reqwest::Method, path: &str, body: Option<serde_json::Value>) -> (u16, String) {
        let mut b = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            b = b.json(&body);
        }
        let r = b.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn send_raw(&self, method: reqwest::Method, path: &str, body: &str) -> (u16, String) {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .header("Content-Type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn patch(&self, path: &str, body: serde_json::Value) {
        let (s, t) = self.send(reqwest::Method::PATCH, path, Some(body)).await;
        assert!(s < 300, "{s} {t}");
    }

    pub async fn delete(&self, path: &str) {
        let (s, t) = self.send(reqwest::Method::DELETE, path, None).await;
        assert!(s < 300, "{s} {t}");
    }

    pub async fn get(&self, path: &str) -> Option<serde_json::Value> {
        let (s, t) = self.send(reqwest::Method::GET, path, None).await;
        if s == 404 {
            return None;
        }
        assert_eq!(s, 200, "{t}");
        Some(serde_json::from_str(&t).unwrap())
    }

    /// Every row of a table: id → (etag, property → exact JSON text).
    pub async fn rows(&self, set: &str, select: &[String]) -> BTreeMap<String, (String, BTreeMap<String, String>)> {
        let mut out = BTreeMap::new();
        let mut url = format!("{}{set}?$select={}", self.base, select.join(","));
        loop {
            let text = self
                .http
                .get(&url)
                .bearer_auth(&self.token)
                .header("Prefer", "odata.maxpagesize=5000")
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            #[derive(serde::Deserialize)]
            struct PageBody<'a> {
                #[serde(borrow)]
                value: Vec<BTreeMap<String, &'a RawValue>>,
                #[serde(rename = "@odata.nextLink")]
                next: Option<String>,
            }
            let page: PageBody = serde_json::from_str(&text).unwrap();
            for row in page.value {
                let etag: String = serde_json::from_str(row["@odata.etag"].get()).unwrap();
                let pk = select.last().unwrap();
                let id: String = serde_json::from_str(row[pk.as_str()].get()).unwrap();
                let values =
                    select.iter().map(|c| (c.clone(), row.get(c).map_or("null", |r| r.get()).to_string())).collect();
                out.insert(id, (etag, values));
            }
            match page.next {
                Some(n) => url = n,
                None => return out,
            }
        }
    }
}

pub fn json_text(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Decimal(d) => d.clone(),
        Value::Text(t) => serde_json::to_string(t).unwrap(),
    }
}

/// Every local record of a table: id → (etag, property → exact JSON text).
pub fn local_rows(store: &Store, set: &str, select: &[String]) -> BTreeMap<String, (String, BTreeMap<String, String>)> {
    let mut out = BTreeMap::new();
    let mut q = Query { limit: 5000, ..Query::default() };
    loop {
        let page = store.query(set, &q).unwrap();
        for r in page.records {
            let values =
                select.iter().map(|c| (c.clone(), r.values.get(c).map_or_else(|| "null".into(), json_text))).collect();
            out.insert(r.id.clone(), (r.etag.clone().unwrap_or_default(), values));
        }
        match page.next {
            Some(c) => q.after = Some(c),
            None => return out,
        }
    }
}

pub const ACCOUNT_COLS: &[&str] = &[
    "name",
    "accountnumber",
    "telephone1",
    "emailaddress1",
    "description",
    "revenue",
    "new_discountrate",
    "numberofemployees",
    "new_foundedon",
    "industrycode",
    "creditonhold",
    "_parentaccountid_value",
    "_primarycontactid_value",
    "_ownerid_value",
    "statecode",
    "modifiedon",
    "accountid",
];
pub const CONTACT_COLS: &[&str] = &[
    "firstname",
    "lastname",
    "fullname",
    "emailaddress1",
    "telephone1",
    "jobtitle",
    "description",
    "annualincome",
    "birthdate",
    "gendercode",
    "_parentcustomerid_value",
    "_ownerid_value",
    "statecode",
    "modifiedon",
    "contactid",
];
pub const TASK_COLS: &[&str] = &[
    "subject",
    "description",
    "scheduledstart",
    "scheduledend",
    "new_followupon",
    "percentcomplete",
    "new_estimatedcost",
    "new_effort",
    "prioritycode",
    "isbilled",
    "_regardingobjectid_value",
    "_ownerid_value",
    "statecode",
    "modifiedon",
    "activityid",
];

pub fn cols(c: &[&str]) -> Vec<String> {
    c.iter().map(|s| s.to_string()).collect()
}

pub async fn assert_matches_server(server: &Server, store: &Store) {
    for (set, c) in [("accounts", ACCOUNT_COLS), ("contacts", CONTACT_COLS), ("tasks", TASK_COLS)] {
        let select = cols(c);
        let remote = server.rows(set, &select).await;
        let local = local_rows(store, set, &select);
        assert_eq!(remote.len(), local.len(), "{set}: row count");
        for (id, r) in &remote {
            let l = local.get(id).unwrap_or_else(|| panic!("{set} {id} missing locally"));
            assert_eq!(l, r, "{set} {id}");
        }
    }
}

/// Dataverse data requests (not identity, not metadata definitions) logged since `from`.
pub fn data_requests(emu: &EmulatorHandle, from: u64) -> Vec<outpost_emulator::LogEntry> {
    emu.requests().into_iter().filter(|e| e.seq > from && e.path.contains("/api/data/")).collect()
}

pub fn last_seq(emu: &EmulatorHandle) -> u64 {
    emu.requests().iter().map(|e| e.seq).max().unwrap_or(0)
}

pub fn values(pairs: &[(&str, Value)]) -> Values {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

pub fn lookup(prop: &str, target: &str, id: &str) -> [(String, Value); 2] {
    [(prop.to_string(), Value::text(id)), (format!("{prop}{LOOKUP}"), Value::text(target))]
}
