//! Metadata: service document, a minimal CSDL, and `EntityDefinitions` with Attributes (typed, with
//! option sets), ManyToOne/OneToMany relationships.

use serde_json::{json, Map, Value as J};

use crate::codec::{derived_guid, guid, hash_str};
use crate::dataverse::{Ctx, DvError, DvResponse, Query};
use crate::odata::{self, FValue};
use crate::schema::{Column, Kind, LookupKind, Role, TableDef};

fn label(text: &str) -> J {
    let l = json!({"Label": text, "LanguageCode": 1033, "IsManaged": true, "MetadataId": guid(derived_guid(3, hash_str(text), 1)), "HasChanged": null});
    json!({"LocalizedLabels": [l.clone()], "UserLocalizedLabel": l})
}

/// Service document.
pub fn service_document(ctx: &Ctx<'_>) -> DvResponse {
    let mut value: Vec<J> =
        ctx.shared.schema.tables.iter().map(|t| json!({"name": t.set, "kind": "EntitySet", "url": t.set})).collect();
    value.push(json!({"name": "EntityDefinitions", "kind": "EntitySet", "url": "EntityDefinitions"}));
    DvResponse::json(200, json!({"@odata.context": format!("{}/$metadata", ctx.api), "value": value}).to_string())
}

fn edm(c: &Column) -> &'static str {
    match c.kind {
        Kind::PrimaryKey | Kind::Guid | Kind::Lookup(..) => "Edm.Guid",
        Kind::String { .. } | Kind::Memo { .. } => "Edm.String",
        Kind::Integer { .. } | Kind::Picklist(_) | Kind::State(_) | Kind::Status(_) => "Edm.Int32",
        Kind::BigInt => "Edm.Int64",
        Kind::Money | Kind::Decimal { .. } => "Edm.Decimal",
        Kind::DateOnly => "Edm.Date",
        Kind::DateTime => "Edm.DateTimeOffset",
        Kind::Boolean(..) => "Edm.Boolean",
    }
}

/// Minimal CSDL.
pub fn csdl(ctx: &Ctx<'_>, q: &Query) -> DvResponse {
    let annotations = q.get("annotations") == Some("true");
    let store = crate::state::read(&ctx.shared.store);
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><edmx:Edmx Version=\"4.0\" xmlns:edmx=\"http://docs.oasis-open.org/odata/ns/edmx\"><edmx:DataServices><Schema Namespace=\"Microsoft.Dynamics.CRM\" Alias=\"mscrm\" xmlns=\"http://docs.oasis-open.org/odata/ns/edm\">",
    );
    for t in &ctx.shared.schema.tables {
        x.push_str(&format!("<EntityType Name=\"{}\"><Key><PropertyRef Name=\"{}\" /></Key>", t.logical, t.pk()));
        for c in &t.columns {
            x.push_str(&format!("<Property Name=\"{}\" Type=\"{}\" />", c.wire_name(), edm(c)));
        }
        for c in &t.columns {
            if let Kind::Lookup(_, targets) = &c.kind {
                let mut seen = Vec::new();
                for tg in targets {
                    if seen.contains(&tg.nav) {
                        continue;
                    }
                    seen.push(tg.nav);
                    let ty = if matches!(c.kind, Kind::Lookup(LookupKind::Owner, _)) {
                        "principal".to_owned()
                    } else {
                        ctx.shared.schema.tables[tg.table].logical.to_owned()
                    };
                    x.push_str(&format!(
                        "<NavigationProperty Name=\"{}\" Type=\"mscrm.{ty}\" Partner=\"{}\"><ReferentialConstraint Property=\"_{}_value\" ReferencedProperty=\"{}\" /></NavigationProperty>",
                        tg.nav,
                        tg.relationship,
                        c.name,
                        ctx.shared.schema.tables[tg.table].pk()
                    ));
                }
            }
        }
        x.push_str("</EntityType>");
    }
    x.push_str("<EntityContainer Name=\"System\">");
    for t in &ctx.shared.schema.tables {
        x.push_str(&format!("<EntitySet Name=\"{}\" EntityType=\"Microsoft.Dynamics.CRM.{}\">", t.set, t.logical));
        if annotations && store.tables[t.id].change_tracking {
            x.push_str("<Annotation Term=\"Org.OData.Capabilities.V1.ChangeTracking\"><Record><PropertyValue Property=\"Supported\" Bool=\"true\" /></Record></Annotation>");
        }
        x.push_str("</EntitySet>");
    }
    x.push_str("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>");
    DvResponse {
        status: 200,
        headers: vec![("Content-Type".into(), "application/xml".into())],
        body: x.into_bytes(),
        inner_parts: 0,
    }
}

fn entity_json(ctx: &Ctx<'_>, t: &TableDef) -> J {
    let tracked = crate::state::read(&ctx.shared.store).tables[t.id].change_tracking;
    json!({
        "MetadataId": guid(t.metadata_id),
        "LogicalName": t.logical,
        "SchemaName": t.schema_name,
        "EntitySetName": t.set,
        "LogicalCollectionName": t.set,
        "CollectionSchemaName": format!("{}s", t.schema_name),
        "PrimaryIdAttribute": t.pk(),
        "PrimaryNameAttribute": t.columns[t.primary_name].name,
        "ObjectTypeCode": t.otc,
        "ChangeTrackingEnabled": tracked,
        "CanChangeTrackingBeEnabled": {"Value": true, "CanBeChanged": true, "ManagedPropertyLogicalName": "canchangetrackingbeenabled"},
        "IsIntersect": false,
        "IsActivity": t.is_activity,
        "IsCustomEntity": false,
        "IsValidForAdvancedFind": true,
        "IsOptimisticConcurrencyEnabled": true,
        "OwnershipType": t.ownership,
        "DisplayName": label(t.display),
        "DisplayCollectionName": label(t.display_plural),
    })
}

fn attr_type(c: &Column) -> (&'static str, &'static str, &'static str) {
    match &c.kind {
        Kind::PrimaryKey | Kind::Guid => {
            ("Uniqueidentifier", "UniqueidentifierType", "UniqueIdentifierAttributeMetadata")
        }
        Kind::String { .. } => ("String", "StringType", "StringAttributeMetadata"),
        Kind::Memo { .. } => ("Memo", "MemoType", "MemoAttributeMetadata"),
        Kind::Integer { .. } => ("Integer", "IntegerType", "IntegerAttributeMetadata"),
        Kind::BigInt => ("BigInt", "BigIntType", "BigIntAttributeMetadata"),
        Kind::Money => ("Money", "MoneyType", "MoneyAttributeMetadata"),
        Kind::Decimal { .. } => ("Decimal", "DecimalType", "DecimalAttributeMetadata"),
        Kind::DateOnly | Kind::DateTime => ("DateTime", "DateTimeType", "DateTimeAttributeMetadata"),
        Kind::Picklist(_) => ("Picklist", "PicklistType", "PicklistAttributeMetadata"),
        Kind::State(_) => ("State", "StateType", "StateAttributeMetadata"),
        Kind::Status(_) => ("Status", "StatusType", "StatusAttributeMetadata"),
        Kind::Boolean(..) => ("Boolean", "BooleanType", "BooleanAttributeMetadata"),
        Kind::Lookup(LookupKind::Lookup, _) => ("Lookup", "LookupType", "LookupAttributeMetadata"),
        Kind::Lookup(LookupKind::Customer, _) => ("Customer", "CustomerType", "LookupAttributeMetadata"),
        Kind::Lookup(LookupKind::Owner, _) => ("Owner", "OwnerType", "LookupAttributeMetadata"),
    }
}

#[allow(clippy::too_many_arguments)]
fn base_attr(
    t: &TableDef,
    logical: &str,
    schema: &str,
    display: &str,
    ty: (&str, &str, &str),
    create: bool,
    update: bool,
    attribute_of: Option<&str>,
    required: &str,
    n: usize,
) -> Map<String, J> {
    let mut m = Map::new();
    m.insert("@odata.type".into(), json!(format!("#Microsoft.Dynamics.CRM.{}", ty.2)));
    m.insert("MetadataId".into(), json!(guid(derived_guid(t.otc as u64, hash_str(logical), 2))));
    m.insert("LogicalName".into(), json!(logical));
    m.insert("SchemaName".into(), json!(schema));
    m.insert("EntityLogicalName".into(), json!(t.logical));
    m.insert("AttributeType".into(), json!(ty.0));
    m.insert("AttributeTypeName".into(), json!({"Value": ty.1}));
    m.insert("AttributeOf".into(), json!(attribute_of));
    m.insert("IsValidForRead".into(), json!(true));
    m.insert("IsValidForCreate".into(), json!(create));
    m.insert("IsValidForUpdate".into(), json!(update));
    m.insert("IsPrimaryId".into(), json!(n == 0 && attribute_of.is_none()));
    m.insert("IsPrimaryName".into(), json!(n == t.primary_name && attribute_of.is_none()));
    m.insert("IsCustomAttribute".into(), json!(logical.starts_with("new_")));
    m.insert("IsLogical".into(), json!(attribute_of.is_some()));
    m.insert("ColumnNumber".into(), json!(n + 1));
    m.insert("RequiredLevel".into(), json!({"Value": required, "CanBeChanged": true, "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"}));
    m.insert("DisplayName".into(), label(display));
    m
}

fn option_set(t: &TableDef, c: &Column) -> J {
    let options: Vec<J> = c
        .options()
        .unwrap_or(&[])
        .iter()
        .map(|(v, l)| json!({"Value": v, "Label": label(l), "Description": label(""), "Color": null, "IsManaged": true, "ExternalValue": null, "ParentValues": []}))
        .collect();
    let kind = match c.kind {
        Kind::State(_) => "State",
        Kind::Status(_) => "Status",
        _ => "Picklist",
    };
    json!({"MetadataId": guid(derived_guid(t.otc as u64, hash_str(c.name), 4)), "Name": format!("{}_{}", t.logical, c.name), "IsGlobal": false, "OptionSetType": kind, "Options": options})
}

fn attributes(ctx: &Ctx<'_>, t: &TableDef, expand_optionset: bool) -> Vec<J> {
    let store = crate::state::read(&ctx.shared.store);
    let mut out = Vec::new();
    for (n, c) in t.columns.iter().enumerate() {
        let ty = attr_type(c);
        let mut m = base_attr(t, c.name, c.schema_name, c.display, ty, c.create, c.update, None, c.required, n);
        match &c.kind {
            Kind::String { .. } | Kind::Memo { .. } => {
                m.insert("MaxLength".into(), json!(store.max_len(t.id, n)));
                m.insert(
                    "Format".into(),
                    json!(if c.name.starts_with("email") {
                        "Email"
                    } else if matches!(c.kind, Kind::Memo { .. }) {
                        "TextArea"
                    } else {
                        "Text"
                    }),
                );
            }
            Kind::Integer { min, max } => {
                m.insert("MinValue".into(), json!(min));
                m.insert("MaxValue".into(), json!(max));
                m.insert("Format".into(), json!("None"));
            }
            Kind::Money => {
                m.insert("Precision".into(), json!(2));
                m.insert("PrecisionSource".into(), json!(2));
                m.insert("MinValue".into(), json!(-922_337_203_685_477.0));
                m.insert("MaxValue".into(), json!(922_337_203_685_477.0));
            }
            Kind::Decimal { precision } => {
                m.insert("Precision".into(), json!(precision));
                m.insert("MinValue".into(), json!(-100_000_000_000.0));
                m.insert("MaxValue".into(), json!(100_000_000_000.0));
            }
            Kind::DateOnly => {
                m.insert("Format".into(), json!("DateOnly"));
                m.insert("DateTimeBehavior".into(), json!({"Value": "DateOnly"}));
            }
            Kind::DateTime => {
                m.insert("Format".into(), json!("DateAndTime"));
                m.insert("DateTimeBehavior".into(), json!({"Value": "UserLocal"}));
            }
            Kind::Picklist(_) | Kind::State(_) | Kind::Status(_) => {
                m.insert("DefaultFormValue".into(), json!(-1));
                if expand_optionset {
                    m.insert("OptionSet".into(), option_set(t, c));
                    m.insert("GlobalOptionSet".into(), J::Null);
                }
            }
            Kind::Boolean(f, tr) => {
                m.insert("DefaultValue".into(), json!(false));
                if expand_optionset {
                    m.insert(
                        "OptionSet".into(),
                        json!({"MetadataId": guid(derived_guid(t.otc as u64, hash_str(c.name), 5)), "Name": format!("{}_{}", t.logical, c.name), "IsGlobal": false, "OptionSetType": "Boolean",
                               "TrueOption": {"Value": 1, "Label": label(tr)}, "FalseOption": {"Value": 0, "Label": label(f)}}),
                    );
                    m.insert("GlobalOptionSet".into(), J::Null);
                }
            }
            Kind::Lookup(_, targets) => {
                let mut names: Vec<&str> = targets.iter().map(|x| ctx.shared.schema.tables[x.table].logical).collect();
                names.dedup();
                m.insert("Targets".into(), json!(names));
            }
            Kind::PrimaryKey | Kind::Guid | Kind::BigInt => {}
        }
        out.push(J::Object(m));
        // companion (logical) attributes, AttributeOf = this column
        let virt = ("Virtual", "VirtualType", "AttributeMetadata");
        match &c.kind {
            Kind::Lookup(kind, _) => {
                let mut s = base_attr(
                    t,
                    &format!("{}name", c.name),
                    &format!("{}Name", c.schema_name),
                    "",
                    ("String", "StringType", "StringAttributeMetadata"),
                    false,
                    false,
                    Some(c.name),
                    "None",
                    n,
                );
                s.insert("MaxLength".into(), json!(100));
                out.push(J::Object(s));
                if *kind != LookupKind::Lookup {
                    out.push(J::Object(base_attr(
                        t,
                        &format!("{}type", c.name),
                        &format!("{}Type", c.schema_name),
                        "",
                        ("EntityName", "EntityNameType", "EntityNameAttributeMetadata"),
                        false,
                        false,
                        Some(c.name),
                        "None",
                        n,
                    )));
                }
            }
            Kind::Picklist(_) | Kind::State(_) | Kind::Status(_) | Kind::Boolean(..) if c.role == Role::Data => {
                out.push(J::Object(base_attr(
                    t,
                    &format!("{}name", c.name),
                    &format!("{}Name", c.schema_name),
                    "",
                    virt,
                    false,
                    false,
                    Some(c.name),
                    "None",
                    n,
                )));
            }
            _ => {}
        }
    }
    out
}

fn relationships(ctx: &Ctx<'_>, referencing: Option<&TableDef>, referenced: Option<&TableDef>) -> Vec<J> {
    let mut out = Vec::new();
    for t in &ctx.shared.schema.tables {
        if referencing.is_some_and(|r| r.id != t.id) {
            continue;
        }
        for c in &t.columns {
            let Kind::Lookup(kind, targets) = &c.kind else { continue };
            let mut seen: Vec<&str> = Vec::new();
            for tg in targets {
                if seen.contains(&tg.relationship) {
                    continue;
                }
                seen.push(tg.relationship);
                let target = &ctx.shared.schema.tables[tg.table];
                let (ref_entity, ref_attr) =
                    if *kind == LookupKind::Owner { ("owner", "ownerid") } else { (target.logical, target.pk()) };
                if let Some(r) = referenced {
                    if r.logical != ref_entity {
                        continue;
                    }
                }
                out.push(json!({
                    "MetadataId": guid(derived_guid(t.otc as u64, hash_str(tg.relationship), 6)),
                    "SchemaName": tg.relationship,
                    "RelationshipType": "OneToManyRelationship",
                    "ReferencedAttribute": ref_attr,
                    "ReferencedEntity": ref_entity,
                    "ReferencingAttribute": c.name,
                    "ReferencingEntity": t.logical,
                    "ReferencedEntityNavigationPropertyName": tg.relationship,
                    "ReferencingEntityNavigationPropertyName": tg.nav,
                    "IsCustomRelationship": false,
                    "IsHierarchical": tg.table == t.id,
                    "IsValidForAdvancedFind": true,
                    "SecurityTypes": if *kind == LookupKind::Owner { "Pointer" } else { "Append" },
                    "CascadeConfiguration": {"Assign": "NoCascade", "Delete": "RemoveLink", "Merge": "NoCascade", "Reparent": "NoCascade", "Share": "NoCascade", "Unshare": "NoCascade", "RollupView": "NoCascade"},
                }));
            }
        }
    }
    out
}

fn json_path<'a>(v: &'a J, path: &str) -> Option<&'a J> {
    let mut cur = v;
    for seg in path.split('/') {
        cur = cur.get(seg)?;
    }
    Some(cur)
}

fn filter_json(items: Vec<J>, filter: Option<&str>) -> Result<Vec<J>, DvError> {
    let Some(f) = filter else { return Ok(items) };
    let expr = odata::parse_filter(f, &|p: &str| Ok(p.to_owned())).map_err(DvError::query)?;
    Ok(items
        .into_iter()
        .filter(|item| {
            odata::eval(&expr, &mut |p: &String| match json_path(item, p) {
                Some(J::String(s)) => {
                    crate::codec::parse_guid(s).map_or_else(|| FValue::Str(s.clone().into()), FValue::Guid)
                }
                Some(J::Bool(b)) => FValue::Bool(*b),
                Some(J::Number(n)) => {
                    FValue::Num(crate::decimal::Decimal::parse(&n.to_string()).unwrap_or(crate::decimal::Decimal::ZERO))
                }
                _ => FValue::Null,
            })
        })
        .collect())
}

fn select_json(item: J, select: Option<&str>) -> J {
    let Some(sel) = select else { return item };
    let J::Object(m) = item else { return item };
    let keep: Vec<&str> = sel.split(',').map(str::trim).collect();
    const EXPANDED: [&str; 6] = [
        "OptionSet",
        "GlobalOptionSet",
        "Attributes",
        "ManyToOneRelationships",
        "OneToManyRelationships",
        "ManyToManyRelationships",
    ];
    J::Object(
        m.into_iter()
            .filter(|(k, _)| {
                k == "MetadataId"
                    || k == "@odata.type"
                    || k == "@odata.context"
                    || EXPANDED.contains(&k.as_str())
                    || keep.contains(&k.as_str())
            })
            .collect(),
    )
}

fn expand_entity(ctx: &Ctx<'_>, t: &TableDef, mut item: J, expand: Option<&str>) -> J {
    if let (Some(e), J::Object(m)) = (expand, &mut item) {
        for (name, opts) in odata::parse_expand(e) {
            let sel = opts.into_iter().find(|(k, _)| k == "$select").map(|(_, v)| v);
            let list = match name.as_str() {
                "Attributes" => attributes(ctx, t, false),
                "ManyToOneRelationships" => relationships(ctx, Some(t), None),
                "OneToManyRelationships" => relationships(ctx, None, Some(t)),
                "ManyToManyRelationships" => Vec::new(),
                _ => continue,
            };
            m.insert(name, J::Array(list.into_iter().map(|a| select_json(a, sel.as_deref())).collect()));
        }
    }
    item
}

/// `EntityDefinitions...`
pub fn entity_definitions(ctx: &Ctx<'_>, path: &str, q: &Query) -> Result<DvResponse, DvError> {
    let schema = &ctx.shared.schema;
    let rest = &path["EntityDefinitions".len()..];
    let (key, sub) = if let Some(r) = rest.strip_prefix('(') {
        let close = r.find(')').ok_or_else(|| DvError::query("Bad key"))?;
        (Some(&r[..close]), &r[close + 1..])
    } else {
        (None, rest)
    };
    let context_base = format!("{}/$metadata#EntityDefinitions", ctx.api);
    let Some(key) = key else {
        if !sub.is_empty() {
            return Err(DvError::query(format!("Resource not found for the segment '{sub}'.")));
        }
        let items: Vec<J> =
            schema.tables.iter().map(|t| expand_entity(ctx, t, entity_json(ctx, t), q.get("$expand"))).collect();
        let items = filter_json(items, q.get("$filter"))?;
        let items: Vec<J> = items.into_iter().map(|i| select_json(i, q.get("$select"))).collect();
        return Ok(DvResponse::json(200, json!({"@odata.context": context_base, "value": items}).to_string()));
    };
    let table = if let Some(g) = crate::codec::parse_guid(key) {
        schema.tables.iter().find(|t| t.metadata_id == g)
    } else {
        let name = key.split_once('=').map_or(key, |(_, v)| v).trim_matches('\'');
        schema.by_logical(name)
    };
    let Some(t) = table else {
        return Err(DvError::new(404, "0x80040217", format!("Could not find entity with key '{key}'.")));
    };
    let sub = sub.trim_start_matches('/');
    if sub.is_empty() {
        let item = expand_entity(ctx, t, entity_json(ctx, t), q.get("$expand"));
        let mut item = select_json(item, q.get("$select"));
        if let J::Object(m) = &mut item {
            m.insert("@odata.context".into(), json!(format!("{context_base}/$entity")));
        }
        return Ok(DvResponse::json(200, item.to_string()));
    }
    let (seg, cast_or_key) = match sub.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (sub, None),
    };
    let (seg_name, attr_key) = match seg.find('(') {
        Some(i) => (&seg[..i], Some(seg[i + 1..].trim_end_matches(')'))),
        None => (seg, None),
    };
    let ctx_url = format!("{context_base}({})/{seg_name}", t.metadata_id);
    let items = match seg_name {
        "Attributes" => {
            let expand_os = q.get("$expand").is_some_and(|e| e.contains("OptionSet"));
            let mut list = attributes(ctx, t, expand_os);
            if let Some(cast) = cast_or_key {
                let ty = cast.trim_start_matches("Microsoft.Dynamics.CRM.");
                list.retain(|a| {
                    a.get("@odata.type").and_then(J::as_str) == Some(&format!("#Microsoft.Dynamics.CRM.{ty}"))
                });
            }
            if let Some(k) = attr_key {
                let name = k.split_once('=').map_or(k, |(_, v)| v).trim_matches('\'');
                let found = list.into_iter().find(|a| {
                    a.get("LogicalName").and_then(J::as_str) == Some(name)
                        || a.get("MetadataId").and_then(J::as_str) == Some(name)
                });
                let Some(mut item) = found.map(|a| select_json(a, q.get("$select"))) else {
                    return Err(DvError::new(404, "0x80040217", format!("Could not find attribute '{name}'.")));
                };
                if let J::Object(m) = &mut item {
                    m.insert("@odata.context".into(), json!(format!("{ctx_url}/$entity")));
                }
                return Ok(DvResponse::json(200, item.to_string()));
            }
            list
        }
        "ManyToOneRelationships" => relationships(ctx, Some(t), None),
        "OneToManyRelationships" => relationships(ctx, None, Some(t)),
        "ManyToManyRelationships" => Vec::new(),
        other => return Err(DvError::query(format!("Resource not found for the segment '{other}'."))),
    };
    let items = filter_json(items, q.get("$filter"))?;
    let items: Vec<J> = items.into_iter().map(|i| select_json(i, q.get("$select"))).collect();
    Ok(DvResponse::json(200, json!({"@odata.context": ctx_url, "value": items}).to_string()))
}
