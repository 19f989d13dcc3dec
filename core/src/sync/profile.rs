//! The sync profile: which tables and columns are kept offline, and how each table syncs.
//! Loaded from TOML (`docs/sync-profile.md`) or built in code.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What happens when the server changed a record that was also edited locally.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictPolicy {
    /// Three-way merge per column against the value the edit was based on: columns only one
    /// side changed are kept from that side; a column both sides changed to different values
    /// becomes a conflict for the user. The default (ADR 0005).
    #[default]
    MergeFields,
    /// The server's version wins; local edits of the record are dropped.
    ServerWins,
    /// The local edit is applied over the server's version.
    ClientWins,
    /// A 412 whose columns both sides changed parks the whole edit as a conflict for the user
    /// (nothing of it is pushed until resolved). Edits made after that are queued as usual.
    Manual,
}

fn yes() -> bool {
    true
}

/// One table of the profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableProfile {
    /// Entity set name, e.g. `accounts` (as in the Web API URL; never derived from a logical name).
    pub entity_set: String,
    /// Columns to keep, as Web API property names (`name`, `_parentaccountid_value`) or
    /// attribute logical names (`parentaccountid`), which are mapped from metadata.
    pub columns: Vec<String>,
    /// Columns indexed for full-text search.
    #[serde(default)]
    pub searchable: Vec<String>,
    /// Columns with an ordering index (fast sorted paging).
    #[serde(default)]
    pub sortable: Vec<String>,
    /// Conflict policy.
    #[serde(default)]
    pub conflict_policy: ConflictPolicy,
    /// Whether records may be created locally.
    #[serde(default = "yes")]
    pub allow_create: bool,
    /// Whether records may be updated locally.
    #[serde(default = "yes")]
    pub allow_update: bool,
    /// Whether records may be deleted locally.
    #[serde(default = "yes")]
    pub allow_delete: bool,
    /// Rows per page (default: the engine's setting; at most 5,000).
    #[serde(default)]
    pub page_size: Option<u32>,
}

impl TableProfile {
    /// A table with these columns and the defaults.
    pub fn new(entity_set: impl Into<String>, columns: &[&str]) -> TableProfile {
        TableProfile {
            entity_set: entity_set.into(),
            columns: columns.iter().map(|c| (*c).to_string()).collect(),
            searchable: Vec::new(),
            sortable: Vec::new(),
            conflict_policy: ConflictPolicy::default(),
            allow_create: true,
            allow_update: true,
            allow_delete: true,
            page_size: None,
        }
    }

    /// Set the full-text columns.
    #[must_use]
    pub fn searchable(mut self, columns: &[&str]) -> TableProfile {
        self.searchable = columns.iter().map(|c| (*c).to_string()).collect();
        self
    }

    /// Set the conflict policy.
    #[must_use]
    pub fn policy(mut self, policy: ConflictPolicy) -> TableProfile {
        self.conflict_policy = policy;
        self
    }
}

/// The tables kept offline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncProfile {
    /// The tables, pulled in this order (up to the concurrency limit at once).
    pub tables: Vec<TableProfile>,
}

impl SyncProfile {
    /// Parse a TOML profile.
    ///
    /// # Errors
    /// `InvalidArgument` naming the problem (line and field, never values).
    pub fn from_toml(text: &str) -> Result<SyncProfile> {
        let p: SyncProfile = toml::from_str(text).map_err(|e| {
            let span = e.span().map(|s| {
                let line = text.get(..s.start).map_or(0, |t| t.lines().count().max(1));
                format!(" at line {line}")
            });
            Error::invalid(format!("sync profile: {}{}", e.message(), span.unwrap_or_default()))
        })?;
        p.validate()?;
        Ok(p)
    }

    /// Check names: non-empty tables, unique entity sets, plain identifiers.
    ///
    /// # Errors
    /// `InvalidArgument`.
    pub fn validate(&self) -> Result<()> {
        if self.tables.is_empty() {
            return Err(Error::invalid("sync profile: no tables"));
        }
        let mut seen = std::collections::HashSet::new();
        for t in &self.tables {
            let ident = |s: &str| crate::store::is_identifier(s);
            if !ident(&t.entity_set) {
                return Err(Error::invalid(format!("sync profile: bad entity_set {:?}", t.entity_set)));
            }
            if !seen.insert(t.entity_set.as_str()) {
                return Err(Error::invalid(format!("sync profile: {} listed twice", t.entity_set)));
            }
            if t.columns.is_empty() {
                return Err(Error::invalid(format!("sync profile: {} has no columns", t.entity_set)));
            }
            for c in t.columns.iter().chain(&t.searchable).chain(&t.sortable) {
                if !ident(c) {
                    return Err(Error::invalid(format!("sync profile: bad column name {c:?} in {}", t.entity_set)));
                }
            }
            if t.page_size.is_some_and(|n| n == 0 || n > 5000) {
                return Err(Error::invalid(format!("sync profile: page_size of {} must be 1..=5000", t.entity_set)));
            }
        }
        Ok(())
    }

    /// The table named `entity_set`.
    pub fn table(&self, entity_set: &str) -> Option<&TableProfile> {
        self.tables.iter().find(|t| t.entity_set == entity_set)
    }

    /// The profile that ships: accounts, contacts and tasks with the columns a field app
    /// shows, searchable by name, email and subject.
    pub fn default_profile() -> SyncProfile {
        // Kept in TOML so the shipped default is also the documentation's example.
        SyncProfile::from_toml(DEFAULT_PROFILE).unwrap_or_else(|_| SyncProfile { tables: Vec::new() })
    }
}

/// The default profile as TOML (also in `docs/sync-profile.md`).
pub const DEFAULT_PROFILE: &str = r#"
[[tables]]
entity_set = "accounts"
columns = ["name", "accountnumber", "telephone1", "emailaddress1", "description", "revenue",
           "new_discountrate", "numberofemployees", "new_foundedon", "industrycode", "creditonhold",
           "parentaccountid", "primarycontactid", "ownerid", "statecode", "modifiedon"]
searchable = ["name", "accountnumber", "emailaddress1", "description"]
sortable = ["name"]

[[tables]]
entity_set = "contacts"
columns = ["firstname", "lastname", "fullname", "emailaddress1", "telephone1", "jobtitle", "description",
           "annualincome", "birthdate", "gendercode", "parentcustomerid", "ownerid", "statecode", "modifiedon"]
searchable = ["fullname", "emailaddress1", "jobtitle", "description"]
sortable = ["lastname"]

[[tables]]
entity_set = "tasks"
columns = ["subject", "description", "scheduledstart", "scheduledend", "new_followupon", "percentcomplete",
           "new_estimatedcost", "new_effort", "prioritycode", "isbilled", "regardingobjectid", "ownerid",
           "statecode", "modifiedon"]
searchable = ["subject", "description"]
sortable = ["scheduledend"]
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_parses() {
        let p = SyncProfile::default_profile();
        assert_eq!(p.tables.len(), 3);
        assert_eq!(p.tables[2].entity_set, "tasks");
        assert_eq!(p.tables[0].conflict_policy, ConflictPolicy::MergeFields);
        assert!(p.tables[0].allow_create);
    }

    #[test]
    fn minimal_toml_and_errors() {
        let p = SyncProfile::from_toml("[[tables]]\nentity_set = \"accounts\"\ncolumns = [\"name\"]\n").unwrap();
        assert_eq!(p.tables[0].columns, vec!["name"]);
        let p = SyncProfile::from_toml(
            "[[tables]]\nentity_set = \"tasks\"\ncolumns = [\"subject\"]\nconflict_policy = \"server_wins\"\n",
        )
        .unwrap();
        assert_eq!(p.tables[0].conflict_policy, ConflictPolicy::ServerWins);
        for bad in [
            "",
            "[[tables]]\nentity_set = \"accounts\"\n",
            "[[tables]]\nentity_set = \"accounts\"\ncolumns = []\n",
            "[[tables]]\nentity_set = \"a b\"\ncolumns = [\"x\"]\n",
            "[[tables]]\nentity_set = \"accounts\"\ncolumns = [\"name; drop\"]\n",
            "[[tables]]\nentity_set = \"accounts\"\ncolumns = [\"name\"]\nconflict_policy = \"random\"\n",
            "[[tables]]\nentity_set = \"accounts\"\ncolumns = [\"name\"]\ncolour = 1\n",
            "[[tables]]\nentity_set = \"accounts\"\ncolumns = [\"name\"]\n[[tables]]\nentity_set = \"accounts\"\ncolumns = [\"x\"]\n",
        ] {
            assert!(matches!(SyncProfile::from_toml(bad), Err(Error::InvalidArgument { .. })), "{bad}");
        }
    }
}
