//! Table metadata from `EntityDefinitions`: logical name, primary id, change tracking, column
//! types (with `DateTimeBehavior`), option-set labels (so choices display offline), lookup
//! targets and their navigation properties (`ManyToOneRelationships`). Entity set and
//! navigation names are always read from the server, never derived by string rules; the only
//! rule applied is the Web API's documented `_<attribute>_value` name of lookup properties.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{encode_query, odata_string, Client, Request, ServerError};
use crate::error::{Error, Result};

/// One column as the profile and the Web API name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnMetadata {
    /// Attribute logical name, e.g. `parentaccountid`.
    pub logical_name: String,
    /// Web API property name as `$select` takes it, e.g. `_parentaccountid_value`.
    pub property: String,
    /// `AttributeType`, e.g. `String`, `Money`, `Lookup`, `Picklist`, `DateTime`.
    pub attribute_type: String,
    /// `DateTimeBehavior` of date-time columns: `UserLocal`, `DateOnly`, `TimeZoneIndependent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_time_behavior: Option<String>,
    /// Writable on create.
    pub valid_for_create: bool,
    /// Writable on update.
    pub valid_for_update: bool,
    /// Lookup target tables (logical names).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// Navigation property per target, for `@odata.bind`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub navigation: BTreeMap<String, String>,
    /// Choice labels by value (user's language), for choices, status and yes/no columns.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<i64, String>,
}

impl ColumnMetadata {
    /// Whether the column is a lookup (stored as id + target logical name).
    pub fn is_lookup(&self) -> bool {
        matches!(self.attribute_type.as_str(), "Lookup" | "Customer" | "Owner")
    }
}

/// Metadata of one table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableMetadata {
    /// Entity set name, e.g. `accounts`.
    pub entity_set: String,
    /// Logical name, e.g. `account`.
    pub logical_name: String,
    /// Primary id column.
    pub primary_id: String,
    /// Primary name column, if any.
    #[serde(default)]
    pub primary_name: Option<String>,
    /// `ChangeTrackingEnabled`.
    pub change_tracking: bool,
    /// `IsOptimisticConcurrencyEnabled`.
    pub optimistic_concurrency: bool,
    /// Readable columns by Web API property name.
    pub columns: BTreeMap<String, ColumnMetadata>,
    /// Entity set names of lookup targets, by logical name.
    #[serde(default)]
    pub target_sets: BTreeMap<String, String>,
}

impl TableMetadata {
    /// Map a profile column name (property or attribute logical name) to its property.
    pub fn property_of(&self, name: &str) -> Option<&ColumnMetadata> {
        self.columns.get(name).or_else(|| self.columns.values().find(|c| c.logical_name == name))
    }
}

#[derive(Deserialize)]
struct Collection<T> {
    value: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct EntityDef {
    logical_name: String,
    entity_set_name: Option<String>,
    primary_id_attribute: Option<String>,
    #[serde(default)]
    primary_name_attribute: Option<String>,
    #[serde(default)]
    change_tracking_enabled: Option<bool>,
    #[serde(default)]
    is_optimistic_concurrency_enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AttributeDef {
    logical_name: String,
    #[serde(default)]
    attribute_type: Option<String>,
    #[serde(default)]
    attribute_of: Option<String>,
    #[serde(default)]
    is_valid_for_read: Option<bool>,
    #[serde(default)]
    is_valid_for_create: Option<bool>,
    #[serde(default)]
    is_valid_for_update: Option<bool>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct DateTimeDef {
    logical_name: String,
    #[serde(default)]
    date_time_behavior: Option<Managed>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Managed {
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LookupDef {
    logical_name: String,
    #[serde(default)]
    targets: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Relationship {
    referencing_attribute: String,
    referenced_entity: String,
    referencing_entity_navigation_property_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OptionAttr {
    logical_name: String,
    #[serde(default)]
    option_set: Option<OptionSet>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OptionSet {
    #[serde(default)]
    options: Vec<OptionDef>,
    #[serde(default)]
    true_option: Option<OptionDef>,
    #[serde(default)]
    false_option: Option<OptionDef>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct OptionDef {
    value: i64,
    #[serde(default)]
    label: Option<Label>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Label {
    #[serde(default)]
    user_localized_label: Option<LocalizedLabel>,
    #[serde(default)]
    localized_labels: Vec<LocalizedLabel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct LocalizedLabel {
    label: String,
}

impl OptionDef {
    fn text(&self) -> Option<(i64, String)> {
        let l = self.label.as_ref()?;
        let text = l.user_localized_label.as_ref().or(l.localized_labels.first())?.label.clone();
        Some((self.value, text))
    }
}

fn property_name(logical: &str, attribute_type: &str) -> String {
    if matches!(attribute_type, "Lookup" | "Customer" | "Owner") {
        format!("_{logical}_value")
    } else {
        logical.to_string()
    }
}

async fn get<T: serde::de::DeserializeOwned>(client: &Client, path: &str) -> Result<T> {
    let url = format!("{}{path}", client.api_root());
    let resp = client.execute_json(&Request::get(url).header("Consistency", "Strong")).await?;
    if !resp.status.is_success() {
        return Err(ServerError::from_response(resp.status, &resp.body).to_error());
    }
    serde_json::from_slice(&resp.body).map_err(|_| Error::Network { reason: "malformed metadata response".into() })
}

/// The logical names of tables with these entity set names (one request).
async fn entity_defs_by(client: &Client, field: &str, names: &[&str]) -> Result<Vec<EntityDef>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let filter: Vec<String> = names.iter().map(|n| format!("{field} eq {}", odata_string(n))).collect();
    let path = format!(
        "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,\
         ChangeTrackingEnabled,IsOptimisticConcurrencyEnabled&$filter={}",
        encode_query(&filter.join(" or "))
    );
    Ok(get::<Collection<EntityDef>>(client, &path).await?.value)
}

/// Fetch a table's metadata.
///
/// # Errors
/// `NotFound` when no table has this entity set name; Web API errors.
pub(crate) async fn fetch(client: &Client, entity_set: &str) -> Result<TableMetadata> {
    let def = entity_defs_by(client, "EntitySetName", &[entity_set])
        .await?
        .into_iter()
        .find(|d| d.entity_set_name.as_deref() == Some(entity_set))
        .ok_or_else(|| Error::NotFound { what: format!("table with entity set name {entity_set:?}") })?;
    let base = format!("EntityDefinitions(LogicalName={})", odata_string(&def.logical_name));
    let attrs: Collection<AttributeDef> = get(
        client,
        &format!(
            "{base}/Attributes?$select=LogicalName,AttributeType,AttributeOf,IsValidForRead,IsValidForCreate,\
             IsValidForUpdate"
        ),
    )
    .await?;
    let mut columns = BTreeMap::new();
    for a in attrs.value {
        if a.attribute_of.is_some() || a.is_valid_for_read == Some(false) {
            continue;
        }
        let ty = a.attribute_type.unwrap_or_default();
        let property = property_name(&a.logical_name, &ty);
        columns.insert(
            property.clone(),
            ColumnMetadata {
                logical_name: a.logical_name,
                property,
                attribute_type: ty,
                date_time_behavior: None,
                valid_for_create: a.is_valid_for_create.unwrap_or(false),
                valid_for_update: a.is_valid_for_update.unwrap_or(false),
                targets: Vec::new(),
                navigation: BTreeMap::new(),
                options: BTreeMap::new(),
            },
        );
    }
    let by_logical = |columns: &mut BTreeMap<String, ColumnMetadata>, logical: &str| -> Option<String> {
        columns.values().find(|c| c.logical_name == logical).map(|c| c.property.clone())
    };
    let dates: Collection<DateTimeDef> = get(
        client,
        &format!(
            "{base}/Attributes/Microsoft.Dynamics.CRM.DateTimeAttributeMetadata?$select=LogicalName,DateTimeBehavior"
        ),
    )
    .await?;
    for d in dates.value {
        if let Some(p) = by_logical(&mut columns, &d.logical_name) {
            if let Some(c) = columns.get_mut(&p) {
                c.date_time_behavior = d.date_time_behavior.and_then(|m| m.value);
            }
        }
    }
    let lookups: Collection<LookupDef> = get(
        client,
        &format!("{base}/Attributes/Microsoft.Dynamics.CRM.LookupAttributeMetadata?$select=LogicalName,Targets"),
    )
    .await?;
    for l in lookups.value {
        if let Some(p) = by_logical(&mut columns, &l.logical_name) {
            if let Some(c) = columns.get_mut(&p) {
                c.targets = l.targets;
            }
        }
    }
    let rels: Collection<Relationship> = get(
        client,
        &format!(
            "{base}/ManyToOneRelationships?$select=ReferencingAttribute,ReferencedEntity,\
             ReferencingEntityNavigationPropertyName"
        ),
    )
    .await?;
    for r in rels.value {
        let Some(nav) = r.referencing_entity_navigation_property_name else { continue };
        if let Some(p) = by_logical(&mut columns, &r.referencing_attribute) {
            if let Some(c) = columns.get_mut(&p) {
                if r.referenced_entity == "owner" {
                    // Owner lookups have one navigation property for both targets.
                    for t in c.targets.clone() {
                        c.navigation.insert(t, nav.clone());
                    }
                } else {
                    c.navigation.insert(r.referenced_entity, nav);
                }
            }
        }
    }
    for cast in ["Picklist", "State", "Status", "Boolean"] {
        let opts: Collection<OptionAttr> = get(
            client,
            &format!("{base}/Attributes/Microsoft.Dynamics.CRM.{cast}AttributeMetadata?$select=LogicalName&$expand=OptionSet"),
        )
        .await?;
        for o in opts.value {
            let Some(set) = o.option_set else { continue };
            if let Some(p) = by_logical(&mut columns, &o.logical_name) {
                if let Some(c) = columns.get_mut(&p) {
                    let all = set.options.iter().chain(set.false_option.iter()).chain(set.true_option.iter());
                    c.options = all.filter_map(OptionDef::text).collect();
                }
            }
        }
    }
    let mut targets: Vec<&str> = columns
        .values()
        .flat_map(|c| c.targets.iter().map(String::as_str))
        .filter(|t| *t != def.logical_name)
        .collect();
    targets.sort_unstable();
    targets.dedup();
    let mut target_sets: BTreeMap<String, String> = entity_defs_by(client, "LogicalName", &targets)
        .await?
        .into_iter()
        .filter_map(|d| Some((d.logical_name, d.entity_set_name?)))
        .collect();
    target_sets.insert(def.logical_name.clone(), entity_set.to_string());
    Ok(TableMetadata {
        entity_set: entity_set.to_string(),
        primary_id: def
            .primary_id_attribute
            .ok_or_else(|| Error::Network { reason: "metadata without primary id".into() })?,
        logical_name: def.logical_name,
        primary_name: def.primary_name_attribute,
        change_tracking: def.change_tracking_enabled.unwrap_or(false),
        optimistic_concurrency: def.is_optimistic_concurrency_enabled.unwrap_or(false),
        columns,
        target_sets,
    })
}
