//! Records and enums that cross the boundary, and their conversions. Integers are signed
//! (`i32`/`i64`): Kotlin and Swift apps expect them, and unsigned types turn into `UInt`/`ULong`.

use std::collections::HashMap;

use outpost_core::sync::{ColumnKind, TableColumns, LOOKUP_TARGET};

use crate::error::OutpostError;

pub(crate) fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(crate) fn u32_of(n: i32, what: &str) -> Result<u32, OutpostError> {
    u32::try_from(n).map_err(|_| OutpostError::invalid(format!("{what} must not be negative")))
}

/// Argon2id parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct KdfParams {
    /// Memory in KiB.
    pub memory_kib: i32,
    /// Passes.
    pub iterations: i32,
    /// Lanes.
    pub parallelism: i32,
}

impl From<outpost_core::KdfParams> for KdfParams {
    fn from(p: outpost_core::KdfParams) -> Self {
        let c = |n: u32| i32::try_from(n).unwrap_or(i32::MAX);
        KdfParams { memory_kib: c(p.m_kib), iterations: c(p.t), parallelism: c(p.p) }
    }
}

impl KdfParams {
    pub(crate) fn to_core(self) -> Result<outpost_core::KdfParams, OutpostError> {
        Ok(outpost_core::KdfParams {
            m_kib: u32_of(self.memory_kib, "memory_kib")?,
            t: u32_of(self.iterations, "iterations")?,
            p: u32_of(self.parallelism, "parallelism")?,
        })
    }
}

/// The result of `calibrate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Record)]
pub struct Calibration {
    /// Parameters that take about the target time on this device (never below the floor).
    pub params: KdfParams,
    /// Measured time of one derivation, milliseconds.
    pub measured_ms: i64,
}

/// What happens after too many wrong passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OnLimit {
    /// Each further wrong password waits a doubling delay, from `base_s` to `max_s` seconds.
    Delay {
        /// First delay.
        base_s: i32,
        /// Longest delay.
        max_s: i32,
    },
    /// Delete the vault.
    Wipe,
}

/// What an offline password must be (checked at creation and at every password change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum PasswordPolicy {
    /// At least `min_chars` characters and a strength estimate (zxcvbn, 0 to 4) of at least
    /// `min_score` (0: no estimate).
    Passphrase {
        /// Fewest characters.
        min_chars: u32,
        /// Lowest strength score, 0 to 4.
        min_score: u8,
    },
    /// Digits only, at least `min_digits`: pair it with biometric unlock. A copy of the files
    /// falls to offline guessing of a short PIN in hours (`docs/security.md`).
    Pin {
        /// Fewest digits.
        min_digits: u32,
    },
    /// No check (the app checks passwords itself).
    Unchecked,
}

impl PasswordPolicy {
    pub(crate) fn to_core(self) -> outpost_core::PasswordPolicy {
        match self {
            PasswordPolicy::Passphrase { min_chars, min_score } => {
                outpost_core::PasswordPolicy::Passphrase { min_chars, min_score }
            }
            PasswordPolicy::Pin { min_digits } => outpost_core::PasswordPolicy::Pin { min_digits },
            PasswordPolicy::Unchecked => outpost_core::PasswordPolicy::Unchecked,
        }
    }
}

/// Options for a new vault.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VaultOptions {
    /// Argon2id parameters (`None`: the default, 64 MiB, 3 passes, 4 lanes; calibrate on phones).
    #[uniffi(default = None)]
    pub kdf: Option<KdfParams>,
    /// Wrong passwords in a row before `on_limit` applies.
    #[uniffi(default = 10)]
    pub max_attempts: i32,
    /// What happens then (`None`: delays from 30 s up to a day).
    #[uniffi(default = None)]
    pub on_limit: Option<OnLimit>,
    /// With a delay: wrong passwords in a row after which no password is accepted at all, until
    /// a biometric unlock or a wipe (`None`: 50, or `max_attempts` if larger).
    #[uniffi(default = None)]
    pub refuse_after: Option<i32>,
    /// What the password must be (`None`: at least 8 characters and a strength score of 3).
    #[uniffi(default = None)]
    pub password_policy: Option<PasswordPolicy>,
    /// Keep SQLite's 32-byte header in plaintext (needed on iOS for background work; `None`: on
    /// iOS only).
    #[uniffi(default = None)]
    pub plaintext_header: Option<bool>,
}

impl VaultOptions {
    pub(crate) fn to_core(&self) -> Result<outpost_core::CreateOptions, OutpostError> {
        let mut o = outpost_core::CreateOptions::default();
        if let Some(k) = self.kdf {
            o.kdf = k.to_core()?;
        }
        o.lockout.max_attempts = u32_of(self.max_attempts, "max_attempts")?;
        o.lockout.refuse_after = match self.refuse_after {
            Some(n) => u32_of(n, "refuse_after")?,
            None => outpost_core::DEFAULT_REFUSE_AFTER.max(o.lockout.max_attempts),
        };
        if let Some(limit) = self.on_limit {
            o.lockout.on_limit = match limit {
                OnLimit::Delay { base_s, max_s } => {
                    outpost_core::OnLimit::Delay { base_s: u32_of(base_s, "base_s")?, max_s: u32_of(max_s, "max_s")? }
                }
                OnLimit::Wipe => outpost_core::OnLimit::Wipe,
            };
        }
        if let Some(p) = self.plaintext_header {
            o.plaintext_header = p;
        }
        if let Some(p) = self.password_policy {
            o.password_policy = p.to_core();
        }
        Ok(o)
    }
}

/// What can be known before unlocking.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct VaultStatus {
    /// Wrong passwords left before the lockout policy applies.
    pub attempts_left: i32,
    /// Seconds to wait before a password is accepted, when locked out.
    pub retry_after_s: Option<i64>,
    /// Whether biometric (platform-key) unlock is enrolled.
    pub has_platform_slot: bool,
    /// The refusal limit is reached: passwords are no longer accepted (`PasswordRefused`).
    /// Offer biometric unlock if enrolled, else a wipe.
    #[uniffi(default = false)]
    pub password_refused: bool,
}

/// The signed-in account.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Account {
    /// Directory (tenant) id.
    pub tenant_id: String,
    /// Object id of the user.
    pub account_id: String,
    /// Sign-in name.
    pub username: String,
}

impl From<outpost_core::Account> for Account {
    fn from(a: outpost_core::Account) -> Self {
        Account { tenant_id: a.tenant_id, account_id: a.account_id, username: a.username }
    }
}

/// Options of an interactive sign-in.
#[derive(Debug, Clone, Default, PartialEq, Eq, uniffi::Record)]
pub struct SignInOptions {
    /// `login`, `consent`, `select_account` or `none`.
    #[uniffi(default = None)]
    pub prompt: Option<String>,
    /// Pre-fills the username.
    #[uniffi(default = None)]
    pub login_hint: Option<String>,
    /// Skips home-realm discovery.
    #[uniffi(default = None)]
    pub domain_hint: Option<String>,
    /// A claims request from `MfaRequired` / `InteractionRequired`.
    #[uniffi(default = None)]
    pub claims: Option<String>,
    /// A redirect URI for this sign-in only (else the configured one).
    #[uniffi(default = None)]
    pub redirect_uri: Option<String>,
}

impl From<SignInOptions> for outpost_core::SignInOptions {
    fn from(o: SignInOptions) -> Self {
        outpost_core::SignInOptions {
            prompt: o.prompt,
            login_hint: o.login_hint,
            domain_hint: o.domain_hint,
            claims: o.claims,
            redirect_uri: o.redirect_uri,
        }
    }
}

/// An interactive sign-in to open in Custom Tabs / ASWebAuthenticationSession.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SignInRequest {
    /// The authorize URL to open.
    pub url: String,
    /// The `state` the redirect must echo.
    pub state: String,
}

/// An administrator's consent for the whole tenant, as the admin-consent redirect reports it.
/// `tenant_id` is information only (never use it for authorization).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct AdminConsent {
    /// The tenant the administrator consented for.
    pub tenant_id: String,
    /// The scopes consented to, as the redirect lists them.
    pub scope: Option<String>,
}

impl From<outpost_core::AdminConsent> for AdminConsent {
    fn from(a: outpost_core::AdminConsent) -> Self {
        AdminConsent { tenant_id: a.tenant_id, scope: a.scope }
    }
}

/// What the user needs to finish a device-code sign-in.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceCodeInfo {
    /// The code to type.
    pub user_code: String,
    /// Where to type it.
    pub verification_uri: String,
    /// The provider's instructions (show as given).
    pub message: String,
    /// Seconds until the code expires.
    pub expires_in_s: i64,
}

/// A column value. Decimals and money keep their exact decimal text; dates stay text.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Value {
    /// Null or absent.
    Null,
    /// Yes/no.
    Bool {
        /// The value.
        value: bool,
    },
    /// A whole number.
    Int {
        /// The value.
        value: i64,
    },
    /// Any other number, as exact decimal text (`"1234.5600"`): parse with BigDecimal / Decimal.
    Decimal {
        /// The text.
        text: String,
    },
    /// Text, GUIDs, dates (`2024-02-29`) and date-times as the server sent them.
    Text {
        /// The value.
        value: String,
    },
    /// A reference to a row of another table.
    Lookup {
        /// The target's entity set, e.g. `accounts`.
        entity_set: String,
        /// The target's primary id.
        id: String,
    },
}

impl Value {
    fn from_core(v: &outpost_core::Value) -> Value {
        match v {
            outpost_core::Value::Null => Value::Null,
            outpost_core::Value::Bool(b) => Value::Bool { value: *b },
            outpost_core::Value::Int(i) => Value::Int { value: *i },
            outpost_core::Value::Decimal(d) => Value::Decimal { text: d.clone() },
            outpost_core::Value::Text(t) => Value::Text { value: t.clone() },
        }
    }

    /// Plain (non-lookup) values into the core's.
    pub(crate) fn to_core(&self) -> Result<outpost_core::Value, OutpostError> {
        Ok(match self {
            Value::Null => outpost_core::Value::Null,
            Value::Bool { value } => outpost_core::Value::Bool(*value),
            Value::Int { value } => outpost_core::Value::Int(*value),
            Value::Decimal { text } => outpost_core::Value::decimal(text.clone()).map_err(outpost_core::Error::from)?,
            Value::Text { value } => outpost_core::Value::Text(value.clone()),
            Value::Lookup { .. } => return Err(OutpostError::invalid("a lookup is not a plain value here")),
        })
    }
}

/// Local state of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum RecordState {
    /// Same as the server.
    Synced,
    /// Edited here; waiting to be pushed.
    Modified,
    /// Created here; not on the server yet.
    Created,
    /// Deleted here; hidden until the delete is pushed.
    Deleted,
}

impl From<outpost_core::RecordState> for RecordState {
    fn from(s: outpost_core::RecordState) -> Self {
        match s {
            outpost_core::RecordState::Synced => RecordState::Synced,
            outpost_core::RecordState::Modified => RecordState::Modified,
            outpost_core::RecordState::Created => RecordState::Created,
            outpost_core::RecordState::Deleted => RecordState::Deleted,
        }
    }
}

/// A record as the app sees it: its profile columns by the profile's names.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Record {
    /// Entity set.
    pub entity_set: String,
    /// Primary id.
    pub id: String,
    /// Column values by profile column name (lookups as `Value::Lookup`).
    pub values: HashMap<String, Value>,
    /// The server's etag as last pulled (`None` for a local create).
    pub etag: Option<String>,
    /// Whether local edits are pending.
    pub state: RecordState,
}

/// A record in the app's terms (profile names, lookups with their target entity set).
pub(crate) fn record(cols: &TableColumns, r: &outpost_core::Record) -> Record {
    let mut values = HashMap::with_capacity(cols.columns.len());
    for c in &cols.columns {
        if c.property == cols.primary_id {
            continue;
        }
        let raw = r.values.get(&c.property).unwrap_or(&outpost_core::Value::Null);
        let v = match (c.kind, raw) {
            (ColumnKind::Lookup, outpost_core::Value::Text(id)) => {
                let logical = r.values.get(&format!("{}{LOOKUP_TARGET}", c.property)).and_then(|v| v.as_str());
                let set = logical
                    .and_then(|l| c.targets.iter().find(|(t, _)| t == l))
                    .or_else(|| (c.targets.len() == 1).then(|| &c.targets[0]))
                    .map(|(l, s)| s.clone().unwrap_or_else(|| l.clone()));
                match set {
                    Some(entity_set) => Value::Lookup { entity_set, id: id.clone() },
                    None => Value::Text { value: id.clone() },
                }
            }
            _ => Value::from_core(raw),
        };
        values.insert(c.name.clone(), v);
    }
    Record {
        entity_set: cols.entity_set.clone(),
        id: r.id.clone(),
        values,
        etag: r.etag.clone(),
        state: r.state.into(),
    }
}

/// App values (profile names) into the store's properties.
pub(crate) fn core_values(
    cols: &TableColumns,
    values: HashMap<String, Value>,
) -> Result<outpost_core::Values, OutpostError> {
    let mut out = outpost_core::Values::new();
    for (name, v) in values {
        match &v {
            Value::Lookup { entity_set, id } => {
                out.extend(cols.values_from_text(&name, &format!("{entity_set}({id})"))?)
            }
            Value::Null if cols.column(&name).is_some_and(|c| c.kind == ColumnKind::Lookup) => {
                out.extend(cols.values_from_text(&name, "null")?);
            }
            _ => {
                let col = cols.column(&name).ok_or_else(|| {
                    OutpostError::invalid(format!("{} has no column {name:?} in the sync profile", cols.entity_set))
                })?;
                out.insert(col.property.clone(), v.to_core()?);
            }
        }
    }
    Ok(out)
}

/// A comparison of a typed condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Compare {
    /// Equal (with `Value::Null`: is null).
    Eq,
    /// Not equal (with `Value::Null`: is not null).
    Ne,
    /// Less than.
    Lt,
    /// At most.
    Le,
    /// Greater than.
    Gt,
    /// At least.
    Ge,
    /// Text contains (case-insensitive).
    Contains,
    /// Text starts with (case-insensitive).
    StartsWith,
    /// Equals one of `values`.
    In,
    /// Is null.
    IsNull,
}

/// One typed condition; a query's conditions are AND-ed.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Condition {
    /// Profile column name.
    pub column: String,
    /// The comparison.
    pub compare: Compare,
    /// The operand (unused for `In` and `IsNull`).
    #[uniffi(default = None)]
    pub value: Option<Value>,
    /// The operands of `In`.
    #[uniffi(default = [])]
    pub values: Vec<Value>,
}

/// One ordering key.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct OrderBy {
    /// Profile column name.
    pub column: String,
    /// Descending (nulls last).
    #[uniffi(default = false)]
    pub descending: bool,
}

/// A local query: typed conditions (AND-ed) and/or an OData `$filter` text (`docs/filter.md`).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Query {
    /// Typed conditions, all of which must hold.
    #[uniffi(default = [])]
    pub conditions: Vec<Condition>,
    /// An OData `$filter` expression in the supported subset (AND-ed with `conditions`).
    #[uniffi(default = None)]
    pub filter: Option<String>,
    /// Ordering keys (by id when empty).
    #[uniffi(default = [])]
    pub order_by: Vec<OrderBy>,
    /// Page size, 1 to 5000 (0: 50).
    #[uniffi(default = 50)]
    pub limit: i32,
    /// The `next` cursor of the previous page.
    #[uniffi(default = None)]
    pub after: Option<String>,
}

fn property(cols: &TableColumns, name: &str) -> Result<String, OutpostError> {
    if name == cols.primary_id {
        return Ok(name.to_string());
    }
    cols.column(name)
        .map(|c| c.property.clone())
        .ok_or_else(|| OutpostError::invalid(format!("{} has no column {name:?} in the sync profile", cols.entity_set)))
}

fn map_columns(f: outpost_core::Filter, cols: &TableColumns) -> Result<outpost_core::Filter, OutpostError> {
    use outpost_core::Filter as F;
    let p = |c: String| property(cols, &c);
    Ok(match f {
        F::Eq(c, v) => F::Eq(p(c)?, v),
        F::Ne(c, v) => F::Ne(p(c)?, v),
        F::Lt(c, v) => F::Lt(p(c)?, v),
        F::Le(c, v) => F::Le(p(c)?, v),
        F::Gt(c, v) => F::Gt(p(c)?, v),
        F::Ge(c, v) => F::Ge(p(c)?, v),
        F::Contains(c, t) => F::Contains(p(c)?, t),
        F::StartsWith(c, t) => F::StartsWith(p(c)?, t),
        F::In(c, v) => F::In(p(c)?, v),
        F::IsNull(c) => F::IsNull(p(c)?),
        F::And(v) => F::And(v.into_iter().map(|f| map_columns(f, cols)).collect::<Result<_, _>>()?),
        F::Or(v) => F::Or(v.into_iter().map(|f| map_columns(f, cols)).collect::<Result<_, _>>()?),
        F::Not(b) => F::Not(Box::new(map_columns(*b, cols)?)),
    })
}

fn operand(v: &Value) -> Result<outpost_core::Value, OutpostError> {
    match v {
        Value::Lookup { id, .. } => Ok(outpost_core::Value::text(id.to_ascii_lowercase())),
        other => other.to_core(),
    }
}

impl Query {
    pub(crate) fn to_core(&self, cols: &TableColumns) -> Result<outpost_core::Query, OutpostError> {
        use outpost_core::Filter as F;
        let mut all = Vec::new();
        for c in &self.conditions {
            let col = property(cols, &c.column)?;
            let one = || {
                c.value
                    .as_ref()
                    .map(operand)
                    .transpose()?
                    .ok_or_else(|| OutpostError::invalid(format!("the condition on {} needs a value", c.column)))
            };
            let text = || match one()? {
                outpost_core::Value::Text(t) => Ok(t),
                _ => Err(OutpostError::invalid(format!("the condition on {} needs text", c.column))),
            };
            all.push(match c.compare {
                Compare::Eq => F::Eq(col, one()?),
                Compare::Ne => F::Ne(col, one()?),
                Compare::Lt => F::Lt(col, one()?),
                Compare::Le => F::Le(col, one()?),
                Compare::Gt => F::Gt(col, one()?),
                Compare::Ge => F::Ge(col, one()?),
                Compare::Contains => F::Contains(col, text()?),
                Compare::StartsWith => F::StartsWith(col, text()?),
                Compare::In => F::In(col, c.values.iter().map(operand).collect::<Result<_, _>>()?),
                Compare::IsNull => F::IsNull(col),
            });
        }
        if let Some(text) = &self.filter {
            all.push(map_columns(outpost_core::parse_filter(text)?, cols)?);
        }
        let filter = match all.len() {
            0 => None,
            1 => all.pop(),
            _ => Some(F::And(all)),
        };
        let order_by = self
            .order_by
            .iter()
            .map(|o| Ok(outpost_core::OrderBy { column: property(cols, &o.column)?, descending: o.descending }))
            .collect::<Result<_, OutpostError>>()?;
        Ok(outpost_core::Query {
            filter,
            order_by,
            limit: u32_of(self.limit, "limit")?,
            after: self.after.clone().map(outpost_core::Cursor),
        })
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Page {
    /// The records.
    pub records: Vec<Record>,
    /// Pass as `Query.after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// Which kind of conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ConflictKind {
    /// Both sides changed the same columns.
    Update,
    /// Deleted on the server, edited here.
    ServerDeleted,
    /// Deleted here, changed on the server.
    LocalDeleted,
}

/// A conflict kept for the user. Values are keyed by Web API property names.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Conflict {
    /// Conflict id.
    pub id: i64,
    /// Entity set.
    pub entity_set: String,
    /// Record id.
    pub record_id: String,
    /// Which case.
    pub kind: ConflictKind,
    /// Columns that disagree.
    pub columns: Vec<String>,
    /// This device's values.
    pub local: HashMap<String, Value>,
    /// The server's values (`None` when deleted there).
    pub server: Option<HashMap<String, Value>>,
    /// Unix seconds.
    pub detected_at: i64,
}

fn plain(v: &outpost_core::Values) -> HashMap<String, Value> {
    v.iter().map(|(k, v)| (k.clone(), Value::from_core(v))).collect()
}

impl From<outpost_core::Conflict> for Conflict {
    fn from(c: outpost_core::Conflict) -> Self {
        Conflict {
            id: c.id,
            entity_set: c.entity_set,
            record_id: c.record_id,
            kind: match c.kind {
                outpost_core::ConflictKind::Update => ConflictKind::Update,
                outpost_core::ConflictKind::ServerDeleted => ConflictKind::ServerDeleted,
                outpost_core::ConflictKind::LocalDeleted => ConflictKind::LocalDeleted,
            },
            columns: c.columns,
            local: plain(&c.local),
            server: c.server.as_ref().map(plain),
            detected_at: c.detected_at,
        }
    }
}

/// How to resolve a conflict.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum Resolution {
    /// Keep this device's values (or its delete).
    TakeLocal,
    /// Keep the server's.
    TakeServer,
    /// Use these values (Web API property names, as in `Conflict.local`).
    Values {
        /// The values.
        values: HashMap<String, Value>,
    },
}

impl Resolution {
    pub(crate) fn to_core(&self) -> Result<outpost_core::Resolution, OutpostError> {
        Ok(match self {
            Resolution::TakeLocal => outpost_core::Resolution::TakeLocal,
            Resolution::TakeServer => outpost_core::Resolution::TakeServer,
            Resolution::Values { values } => outpost_core::Resolution::Values(
                values.iter().map(|(k, v)| Ok((k.clone(), v.to_core()?))).collect::<Result<_, OutpostError>>()?,
            ),
        })
    }
}

/// A local change the server refused, parked until retried or discarded.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ParkedChange {
    /// Outbox sequence number.
    pub seq: i64,
    /// Entity set.
    pub entity_set: String,
    /// Record id.
    pub record_id: String,
    /// `create`, `update` or `delete`.
    pub op: String,
    /// HTTP status.
    pub status: i32,
    /// Dataverse error code, e.g. `0x80044331`.
    pub code: String,
    /// The server's message (may name columns; keep it out of logs).
    pub message: String,
    /// Why, as an app can act on it: `server` (see `status`, `code`, `message`),
    /// `missing_lookup_target` (the lookup `column` points at a record the server does not
    /// have: set it to another record or clear it, then retry) or `invalid_local_change`.
    pub reason: String,
    /// The column concerned, for `missing_lookup_target`.
    pub column: Option<String>,
}

impl From<outpost_core::OutboxEntry> for ParkedChange {
    fn from(e: outpost_core::OutboxEntry) -> Self {
        let err = e.error.unwrap_or(outpost_core::PushError {
            status: 0,
            code: String::new(),
            message: String::new(),
            reason: outpost_core::RefusalReason::Server,
        });
        let (reason, column) = match err.reason {
            outpost_core::RefusalReason::Server => ("server", None),
            outpost_core::RefusalReason::MissingLookupTarget { column } => ("missing_lookup_target", Some(column)),
            outpost_core::RefusalReason::InvalidLocalChange => ("invalid_local_change", None),
        };
        ParkedChange {
            seq: e.seq,
            entity_set: e.entity_set,
            record_id: e.record_id,
            op: match e.op {
                outpost_core::OutboxOp::Create => "create",
                outpost_core::OutboxOp::Update => "update",
                outpost_core::OutboxOp::Delete => "delete",
            }
            .into(),
            status: i32::from(err.status),
            code: err.code,
            message: err.message,
            reason: reason.into(),
            column,
        }
    }
}

/// The sync state of one profile table.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TableStatus {
    /// Entity set.
    pub entity_set: String,
    /// Records kept offline.
    pub rows: i64,
    /// Unix seconds of the last completed pull.
    pub last_sync: Option<i64>,
    /// Whether the first full pull completed (the table is usable offline).
    pub initial_sync_done: bool,
}

/// The vault at a glance.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct Status {
    /// The account the vault belongs to.
    pub account: Option<Account>,
    /// Whether a sign-in is stored.
    pub signed_in: bool,
    /// Profile tables.
    pub tables: Vec<TableStatus>,
    /// Local changes waiting to be pushed.
    pub pending: i64,
    /// Open conflicts.
    pub conflicts: i64,
    /// Parked changes.
    pub parked: i64,
}
