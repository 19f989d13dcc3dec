//! The Dataverse Web API (`/api/data/v9.x/`): routing, errors, and the request/response types shared
//! by direct calls and `$batch` parts.

pub mod batch;
pub mod metadata;
pub mod read;
pub mod write;

use std::collections::HashMap;

use axum::http::{HeaderMap, Method};

use crate::config::ReadLevel;
use crate::directory::UserRef;
use crate::odata::Prefer;
use crate::schema::TableDef;
use crate::state::Shared;

/// The authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    /// Directory reference.
    pub user: UserRef,
    /// `systemuserid`.
    pub systemuser_id: u128,
    /// UPN.
    pub upn: String,
}

/// A Web API request (direct or from a `$batch` part).
#[derive(Clone, Debug)]
pub struct DvRequest {
    /// Method.
    pub method: Method,
    /// `v9.2` etc.
    pub version: String,
    /// Path after `/api/data/v9.x/`, still percent-encoded.
    pub path: String,
    /// Raw query string (without `?`).
    pub query: String,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Vec<u8>,
    /// `$batch` only, from the `lost_ack_after_parts` fault: run only this many operations
    /// (changeset members counted one by one). `None`: all of them.
    pub part_limit: Option<u32>,
}

/// A Web API response.
#[derive(Clone, Debug)]
pub struct DvResponse {
    /// Status code.
    pub status: u16,
    /// Headers (besides the common OData ones).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// `$batch` only: operations in the request (changeset members counted one by one), for the request log.
    pub inner_parts: u32,
}

impl DvResponse {
    /// A JSON response.
    pub fn json(status: u16, body: String) -> Self {
        DvResponse {
            status,
            headers: vec![("Content-Type".into(), "application/json; odata.metadata=minimal".into())],
            body: body.into_bytes(),
            inner_parts: 0,
        }
    }

    /// An empty response.
    pub fn empty(status: u16) -> Self {
        DvResponse { status, headers: Vec::new(), body: Vec::new(), inner_parts: 0 }
    }

    /// Adds a header.
    #[must_use]
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_owned(), value.into()));
        self
    }
}

/// A Web API error: `{"error":{"code":"0x...","message":"..."}}`.
#[derive(Clone, Debug)]
pub struct DvError {
    /// HTTP status.
    pub status: u16,
    /// Hex code.
    pub code: String,
    /// Message.
    pub message: String,
}

impl DvError {
    /// Builds an error.
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        DvError { status, code: code.to_owned(), message: message.into() }
    }

    /// 400 query syntax/unsupported (0x80060888).
    pub fn query(message: impl Into<String>) -> Self {
        Self::new(400, "0x80060888", message)
    }

    /// 404 row missing (0x80040217).
    pub fn not_found(logical: &str, id: u128) -> Self {
        Self::new(404, "0x80040217", format!("Entity '{logical}' With Id = {} Does Not Exist", crate::codec::guid(id)))
    }

    /// The response.
    pub fn response(&self) -> DvResponse {
        let body = serde_json::json!({"error": {"code": self.code, "message": self.message}});
        DvResponse::json(self.status, body.to_string())
    }
}

/// Parsed query options.
#[derive(Clone, Debug, Default)]
pub struct Query {
    /// Ordered (name, decoded value) pairs.
    pub pairs: Vec<(String, String)>,
}

impl Query {
    /// Parses a raw query string (`+` means space, as in ASP.NET).
    pub fn parse(raw: &str) -> Self {
        Query { pairs: form_urlencoded::parse(raw.as_bytes()).into_owned().collect() }
    }

    /// A value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Re-encodes all pairs except those named.
    pub fn encode_without(&self, skip: &[&str]) -> String {
        let mut out = String::new();
        for (k, v) in &self.pairs {
            if skip.contains(&k.as_str()) {
                continue;
            }
            if !out.is_empty() {
                out.push('&');
            }
            out.push_str(&crate::codec::pct_query(k));
            out.push('=');
            out.push_str(&crate::codec::pct_query(v));
        }
        out
    }
}

/// Per-request context.
pub struct Ctx<'a> {
    /// Shared state.
    pub shared: &'a Shared,
    /// Caller.
    pub caller: &'a Caller,
    /// `{org}/api/data/v9.x`.
    pub api: String,
    /// Prefer header.
    pub prefer: Prefer,
    /// Noise switch.
    pub noise: bool,
    /// Request headers.
    pub headers: &'a HeaderMap,
}

impl Ctx<'_> {
    /// Header value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Read level on a table; errors for `None`.
    ///
    /// # Errors
    /// 403 when the user cannot read the table.
    pub fn read_level(&self, table: &TableDef) -> Result<ReadLevel, DvError> {
        let level = crate::state::read(&self.shared.directory).privileges(self.caller.user, table.set).read;
        if level == ReadLevel::None {
            return Err(privilege_error(self.caller, table, "Read"));
        }
        Ok(level)
    }
}

/// 403 0x80040220 with Dataverse's message shape.
pub fn privilege_error(caller: &Caller, table: &TableDef, op: &str) -> DvError {
    DvError::new(
        403,
        "0x80040220",
        format!(
            "Principal user (Id={}, type=8, roleCount=1, privilegeCount=412, accessMode=0), is missing prv{}{} privilege (Id={}) on OTC={} for entity '{}'. context: Method={}, UserId={}",
            crate::codec::guid(caller.systemuser_id),
            op,
            table.schema_name,
            crate::codec::guid(crate::codec::derived_guid(table.otc as u64, crate::codec::hash_str(op), 3)),
            table.otc,
            table.logical,
            op,
            crate::codec::guid(caller.systemuser_id),
        ),
    )
}

/// A parsed resource path.
#[derive(Debug)]
enum Resource {
    ServiceDoc,
    Metadata,
    WhoAmI,
    Batch,
    EntityDefinitions(String),
    Collection(usize),
    Count(usize),
    Row(usize, String),
}

fn parse_resource(shared: &Shared, path: &str) -> Result<Resource, DvError> {
    let path = crate::codec::pct_decode(path);
    let path = path.trim_end_matches('/');
    if path.is_empty() {
        return Ok(Resource::ServiceDoc);
    }
    if path == "$metadata" {
        return Ok(Resource::Metadata);
    }
    if path == "WhoAmI" || path == "WhoAmI()" {
        return Ok(Resource::WhoAmI);
    }
    if path == "$batch" {
        return Ok(Resource::Batch);
    }
    if path.starts_with("EntityDefinitions") {
        return Ok(Resource::EntityDefinitions(path.to_owned()));
    }
    let (head, rest) = match path.find('/') {
        Some(i) => (&path[..i], Some(&path[i + 1..])),
        None => (path, None),
    };
    let (set, key) = match head.find('(') {
        Some(i) if head.ends_with(')') => (&head[..i], Some(&head[i + 1..head.len() - 1])),
        Some(_) => return Err(DvError::query(format!("Bad Request - Error in query syntax: '{head}'"))),
        None => (head, None),
    };
    let Some(table) = shared.schema.by_set(set) else {
        return Err(DvError::new(404, "0x80060888", format!("Resource not found for the segment '{set}'.")));
    };
    match (key, rest) {
        (None, None) => Ok(Resource::Collection(table.id)),
        (None, Some("$count")) => Ok(Resource::Count(table.id)),
        (Some(k), None) => Ok(Resource::Row(table.id, k.to_owned())),
        (_, Some(other)) => Err(DvError::new(
            501,
            "0x80040315",
            format!("The emulator does not implement the path segment '{other}' (navigation, $ref and single-property routes)."),
        )),
    }
}

/// Resolves a key segment (`<guid>` or `pk=<guid>` or `accountnumber='x'`) to an id.
pub fn resolve_key(ctx: &Ctx<'_>, table: &TableDef, key: &str) -> Result<Option<u128>, DvError> {
    if let Some(id) = crate::codec::parse_guid(key) {
        return Ok(Some(id));
    }
    let Some((name, value)) = key.split_once('=') else {
        return Err(DvError::query(format!("Bad Request - Error in query syntax: key '{key}'")));
    };
    let name = name.trim();
    let value = value.trim();
    if name == table.pk() {
        return crate::codec::parse_guid(value)
            .map(Some)
            .ok_or_else(|| DvError::query(format!("Invalid key value '{value}'")));
    }
    // alternate key: accounts(accountnumber='ABC')
    if table.set == "accounts" && name == "accountnumber" {
        let wanted = value.trim_matches('\'').replace("''", "'");
        let store = crate::state::read(&ctx.shared.store);
        let ci = table.col("accountnumber").unwrap_or(0);
        let found =
            store.tables[table.id].rows.iter().find_map(|(id, row)| match store.value(table.id, *id, row, ci) {
                crate::store::Value::Str(s) if *s == *wanted => Some(*id),
                _ => None,
            });
        return Ok(found);
    }
    Err(DvError::query(format!("The key '{name}' is not a primary or alternate key of entity '{}'.", table.logical)))
}

/// Handles one Web API request.
pub fn dispatch(shared: &Shared, caller: &Caller, req: &DvRequest) -> DvResponse {
    let settings = crate::state::read(&shared.settings).clone();
    let ctx = Ctx {
        shared,
        caller,
        api: format!("{}/api/data/{}", shared.org_url, req.version),
        prefer: Prefer::parse(req.headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok())),
        noise: settings.noise,
        headers: &req.headers,
    };
    let result = route(&ctx, req, &settings);
    match result {
        Ok(r) => r,
        Err(e) => e.response(),
    }
}

fn route(ctx: &Ctx<'_>, req: &DvRequest, settings: &crate::config::Settings) -> Result<DvResponse, DvError> {
    let query = Query::parse(&req.query);
    let resource = parse_resource(ctx.shared, &req.path)?;
    let m = &req.method;
    match resource {
        Resource::ServiceDoc if m == Method::GET => Ok(metadata::service_document(ctx)),
        Resource::Metadata if m == Method::GET => Ok(metadata::csdl(ctx, &query)),
        Resource::WhoAmI if m == Method::GET => Ok(read::whoami(ctx)),
        Resource::Batch if m == Method::POST => Ok(batch::handle(ctx, req)),
        Resource::EntityDefinitions(p) if m == Method::GET => metadata::entity_definitions(ctx, &p, &query),
        Resource::Collection(t) if m == Method::GET => read::collection(ctx, t, &query, settings),
        Resource::Count(t) if m == Method::GET => read::count(ctx, t, &query),
        Resource::Row(t, key) if m == Method::GET => read::single(ctx, t, &key, &query),
        Resource::Collection(t) if m == Method::POST => {
            let mut store = crate::state::write(&ctx.shared.store);
            write::create(ctx, &mut store, t, &query, &req.body, &HashMap::new())
        }
        Resource::Row(t, key) if m == Method::PATCH => {
            let id = resolve_key(ctx, &ctx.shared.schema.tables[t], &key)?;
            let mut store = crate::state::write(&ctx.shared.store);
            write::upsert(ctx, &mut store, t, id, &query, &req.body, &HashMap::new())
        }
        Resource::Row(t, key) if m == Method::DELETE => {
            let id = resolve_key(ctx, &ctx.shared.schema.tables[t], &key)?;
            let mut store = crate::state::write(&ctx.shared.store);
            write::delete(ctx, &mut store, t, id)
        }
        _ => Err(DvError::new(405, "0x80060888", format!("The HTTP method '{m}' is not allowed for this resource."))),
    }
}
