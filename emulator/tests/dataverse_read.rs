//! Dataverse reads over real HTTP: 401 challenge, service document, WhoAmI, queries, paging with the XML
//! paging cookie, annotations, metadata, change tracking (initial, delta, tombstones, expiry, untracked
//! tables, privileges).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use outpost_emulator::{defaults, EmulatorConfig};
use serde_json::{json, Value};

#[tokio::test]
async fn unauthenticated_gets_unquoted_challenge() {
    let h = small();
    let r = client().get(api(&h, "WhoAmI")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    let www = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert_eq!(
        www,
        format!(
            "Bearer authorization_uri={}/{}/oauth2/authorize, resource_id={}/",
            h.base_url(),
            h.tenant_id(),
            h.org_url()
        )
    );
    let r = client().get(api(&h, "accounts")).bearer_auth("not.a.jwt").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
}

#[tokio::test]
async fn expired_tokens_get_401() {
    let mut cfg = EmulatorConfig::default().with_rows(5, 5, 5);
    // Token times are whole seconds (`exp = iat + lifetime`, expired once `exp <= now`): a
    // 1-second token can expire within milliseconds of being issued, so use 2 (valid ≥ 1 s).
    cfg.settings.access_token_lifetime_secs = 2;
    let h = start(cfg);
    let t = bob_token(&h).await;
    assert_eq!(get_json(&t, &api(&h, "WhoAmI"), None).await.0, 200);
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    let (s, headers, _) = get_json(&t, &api(&h, "WhoAmI"), None).await;
    assert_eq!(s, 401);
    assert!(headers["www-authenticate"].to_str().unwrap().starts_with("Bearer authorization_uri="));
    // expiry through the control API
    control(&h, reqwest::Method::POST, "/settings", json!({"access_token_lifetime_secs": 3600})).await;
    let t = bob_token(&h).await;
    assert_eq!(get_json(&t, &api(&h, "WhoAmI"), None).await.0, 200);
    control(&h, reqwest::Method::POST, "/tokens/expire", json!({"kind": "access"})).await;
    assert_eq!(get_json(&t, &api(&h, "WhoAmI"), None).await.0, 401);
    let t2 = bob_token(&h).await;
    assert_eq!(get_json(&t2, &api(&h, "WhoAmI"), None).await.0, 200);
}

#[tokio::test]
async fn service_document_whoami_and_versions() {
    let h = small();
    let t = bob_token(&h).await;
    let (s, _, doc) = get_json(&t, &api(&h, ""), None).await;
    assert_eq!(s, 200);
    let names: Vec<&str> = doc["value"].as_array().unwrap().iter().map(|v| v["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"accounts") && names.contains(&"contacts") && names.contains(&"tasks"));
    for v in ["v9.0", "v9.1", "v9.2"] {
        let (s, _, who) = get_json(&t, &format!("{}/api/data/{v}/WhoAmI", h.org_url()), None).await;
        assert_eq!(s, 200);
        assert_eq!(who["UserId"], h.users()[1].systemuser_id);
        assert!(who["BusinessUnitId"].is_string() && who["OrganizationId"].is_string());
    }
    let r = client().get(format!("{}/api/data/v9.2/$metadata", h.org_url())).bearer_auth(&t).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("<EntitySet Name=\"tasks\""));
}

#[tokio::test]
async fn paging_12345_rows_with_xml_skiptoken() {
    let h = start(EmulatorConfig::default().with_rows(12_345, 0, 0));
    let t = bob_token(&h).await;
    let mut url = api(&h, "accounts?$select=name,accountnumber");
    let mut seen = std::collections::HashSet::new();
    let mut pages = 0;
    loop {
        let (s, headers, body) = get_json(&t, &url, Some("odata.maxpagesize=1000")).await;
        assert_eq!(s, 200);
        assert_eq!(headers["preference-applied"], "odata.maxpagesize=1000");
        pages += 1;
        let rows = body["value"].as_array().unwrap();
        for r in rows {
            assert!(r["@odata.etag"].as_str().unwrap().starts_with("W/\""));
            assert!(seen.insert(r["accountid"].as_str().unwrap().to_owned()));
        }
        match body.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => {
                assert_eq!(rows.len(), 1000);
                assert!(next.starts_with(&h.web_api_url()), "absolute nextLink");
                let tok = next.split("$skiptoken=").nth(1).unwrap();
                assert!(tok.starts_with("%3Ccookie%20pagenumber=%22"), "{tok}");
                assert!(
                    tok.contains("pagingcookie=%22%253ccookie%2520page%253d%2522"),
                    "inner cookie encoded twice: {tok}"
                );
                let once = outpost_emulator::codec::pct_decode(tok);
                let inner = once.split("pagingcookie=\"").nth(1).unwrap();
                let twice = outpost_emulator::codec::pct_decode(inner);
                assert!(twice.contains("<accountid last=\"{"), "{twice}");
                assert!(body.get("@odata.deltaLink").is_none());
                url = next.to_owned();
            }
            None => break,
        }
    }
    assert_eq!(pages, 13);
    assert_eq!(seen.len(), 12_345);
}

#[tokio::test]
async fn select_filter_orderby_top_count_and_annotations() {
    let h = small();
    let t = bob_token(&h).await;
    let (s, _, b) =
        get_json(&t, &api(&h, "accounts?$select=name,revenue,_ownerid_value,industrycode&$top=5&$count=true"), None)
            .await;
    assert_eq!(s, 200);
    assert_eq!(b["value"].as_array().unwrap().len(), 5);
    assert_eq!(b["@odata.count"], 40);
    assert!(b.get("@odata.nextLink").is_none(), "$top without paging: no nextLink");
    let row = &b["value"][0];
    assert!(row["_ownerid_value"].is_string());
    assert!(row.get("description").is_none());
    assert!(row["_transactioncurrencyid_value"].is_string(), "money brings the currency lookup");
    assert!(b["@odata.context"]
        .as_str()
        .unwrap()
        .ends_with("$metadata#accounts(name,revenue,_ownerid_value,industrycode)"));
    // filter + orderby
    let (_, _, b) = get_json(&t, &api(&h, "accounts?$select=name,numberofemployees&$filter=numberofemployees gt 5000 and contains(name,'a')&$orderby=numberofemployees desc"), None).await;
    let rows = b["value"].as_array().unwrap();
    assert!(!rows.is_empty());
    let mut prev = i64::MAX;
    for r in rows {
        let n = r["numberofemployees"].as_i64().unwrap();
        assert!(n > 5000 && n <= prev);
        assert!(r["name"].as_str().unwrap().to_lowercase().contains('a'));
        prev = n;
    }
    // null, eq on strings is case-insensitive, startswith
    let (_, _, all) = get_json(&t, &api(&h, "accounts?$select=name"), None).await;
    let first = all["value"][0]["name"].as_str().unwrap().to_uppercase();
    let (_, _, b) =
        get_json(&t, &api(&h, &format!("accounts?$select=name&$filter=name eq '{}'", first.replace('\'', "''"))), None)
            .await;
    assert_eq!(b["value"].as_array().unwrap().len(), 1);
    let (_, _, b) =
        get_json(&t, &api(&h, "contacts?$select=fullname&$filter=_parentcustomerid_value eq null"), None).await;
    assert!(b["value"].as_array().is_some());
    // formatted values + lookup annotations on a polymorphic lookup
    let (_, headers, b) = get_json(
        &t,
        &api(&h, "contacts?$select=fullname,_parentcustomerid_value,gendercode,birthdate&$filter=_parentcustomerid_value ne null&$top=3"),
        Some("odata.include-annotations=\"*\""),
    )
    .await;
    assert!(headers["preference-applied"].to_str().unwrap().contains("odata.include-annotations"));
    let row = &b["value"][0];
    let logical = row["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"].as_str().unwrap();
    assert!(logical == "account" || logical == "contact");
    assert_eq!(
        row["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"],
        format!("parentcustomerid_{logical}")
    );
    assert!(row["_parentcustomerid_value@OData.Community.Display.V1.FormattedValue"].is_string());
    assert!(row["gendercode@OData.Community.Display.V1.FormattedValue"].is_string());
    let birth = row["birthdate"].as_str().unwrap();
    assert_eq!(birth.len(), 10, "date-only as YYYY-MM-DD");
    // unsupported options
    assert_eq!(get_json(&t, &api(&h, "accounts?$skip=5"), None).await.0, 400);
    let (s, _, e) = get_json(&t, &api(&h, "accounts?$select=nosuchcolumn"), None).await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["code"], "0x80060888");
    // $count segment
    let r = client().get(api(&h, "tasks/$count")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.text().await.unwrap(), "20");
}

#[tokio::test]
async fn get_by_key_with_etag_and_304() {
    let h = small();
    let t = bob_token(&h).await;
    let (_, _, list) = get_json(&t, &api(&h, "tasks?$select=subject&$top=1"), None).await;
    let id = list["value"][0]["activityid"].as_str().unwrap().to_owned();
    let (s, headers, row) =
        get_json(&t, &api(&h, &format!("tasks({id})?$select=subject,modifiedon,_regardingobjectid_value")), None).await;
    assert_eq!(s, 200);
    assert_eq!(row["activityid"], id);
    assert!(row["@odata.context"].as_str().unwrap().ends_with("/$entity"));
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(row["@odata.etag"], etag);
    let m = row["modifiedon"].as_str().unwrap();
    assert!(m.ends_with('Z') && m.len() == 20, "{m}");
    let r = client()
        .get(api(&h, &format!("tasks({id})")))
        .bearer_auth(&t)
        .header("If-None-Match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 304);
    let (s, _, e) = get_json(&t, &api(&h, "tasks(00000000-0000-0000-0000-000000000001)"), None).await;
    assert_eq!(s, 404);
    assert_eq!(e["error"]["code"], "0x80040217");
    // alternate key
    let (_, _, a) = get_json(&t, &api(&h, "accounts?$select=accountnumber&$top=1"), None).await;
    let num = a["value"][0]["accountnumber"].as_str().unwrap().to_owned();
    let (s, _, row) =
        get_json(&t, &api(&h, &format!("accounts(accountnumber='{num}')?$select=accountnumber")), None).await;
    assert_eq!(s, 200);
    assert_eq!(row["accountnumber"], num);
}

#[tokio::test]
async fn metadata_entities_attributes_relationships_option_sets() {
    let h = small();
    let t = bob_token(&h).await;
    let (_, _, b) = get_json(&t, &api(&h, "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute,ChangeTrackingEnabled&$filter=ChangeTrackingEnabled eq true"), None).await;
    let task = b["value"].as_array().unwrap().iter().find(|e| e["LogicalName"] == "task").unwrap().clone();
    assert_eq!(task["PrimaryIdAttribute"], "activityid");
    assert_eq!(task["EntitySetName"], "tasks");
    assert!(task["MetadataId"].is_string());
    let (_, _, b) = get_json(&t, &api(&h, "EntityDefinitions(LogicalName='contact')/Attributes?$select=LogicalName,AttributeType,AttributeOf,IsValidForCreate"), None).await;
    let attrs = b["value"].as_array().unwrap();
    let find = |n: &str| attrs.iter().find(|a| a["LogicalName"] == n).unwrap().clone();
    assert_eq!(find("parentcustomerid")["AttributeType"], "Customer");
    assert_eq!(find("parentcustomeridname")["AttributeOf"], "parentcustomerid");
    assert_eq!(find("fullname")["IsValidForCreate"], false);
    let (_, _, b) =
        get_json(&t, &api(&h, "EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='birthdate')"), None)
            .await;
    assert_eq!(b["DateTimeBehavior"]["Value"], "DateOnly");
    let (_, _, b) = get_json(&t, &api(&h, "EntityDefinitions(LogicalName='contact')/ManyToOneRelationships?$select=SchemaName,ReferencingAttribute,ReferencedEntity,ReferencingEntityNavigationPropertyName"), None).await;
    let rels = b["value"].as_array().unwrap();
    let acc = rels.iter().find(|r| r["ReferencingEntityNavigationPropertyName"] == "parentcustomerid_account").unwrap();
    assert_eq!(acc["ReferencingAttribute"], "parentcustomerid");
    assert_eq!(acc["ReferencedEntity"], "account");
    assert!(rels.iter().any(|r| r["ReferencingEntityNavigationPropertyName"] == "parentcustomerid_contact"));
    let (_, _, b) = get_json(&t, &api(&h, "EntityDefinitions(LogicalName='task')/ManyToOneRelationships"), None).await;
    assert!(b["value"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["ReferencingEntityNavigationPropertyName"] == "regardingobjectid_account_task"));
    let (_, _, b) = get_json(&t, &api(&h, "EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet"), None).await;
    let industry = b["value"].as_array().unwrap().iter().find(|a| a["LogicalName"] == "industrycode").unwrap();
    assert_eq!(industry["OptionSet"]["Options"][0]["Value"], 1);
    assert_eq!(industry["OptionSet"]["Options"][0]["Label"]["UserLocalizedLabel"]["Label"], "Accounting");
    let (_, _, b) = get_json(
        &t,
        &api(
            &h,
            "EntityDefinitions(LogicalName='account')?$select=LogicalName&$expand=Attributes($select=LogicalName)",
        ),
        None,
    )
    .await;
    assert!(b["Attributes"].as_array().unwrap().len() > 20);
}

#[tokio::test]
async fn change_tracking_initial_delta_tombstones() {
    let h = start(EmulatorConfig::default().with_rows(2500, 20, 20));
    let t = bob_token(&h).await;
    let mut url = api(&h, "accounts?$select=name,telephone1");
    let mut count = 0;
    let delta_link;
    loop {
        let (s, headers, b) = get_json(&t, &url, Some("odata.track-changes,odata.maxpagesize=1000")).await;
        assert_eq!(s, 200);
        assert!(headers["preference-applied"].to_str().unwrap().contains("odata.track-changes"));
        count += b["value"].as_array().unwrap().len();
        if let Some(n) = b.get("@odata.nextLink").and_then(Value::as_str) {
            assert!(b.get("@odata.deltaLink").is_none(), "deltaLink only on the last page");
            assert!(n.contains("istracking=%22True%22"));
            url = n.to_owned();
        } else {
            delta_link = b["@odata.deltaLink"].as_str().unwrap().to_owned();
            break;
        }
    }
    assert_eq!(count, 2500);
    let tok = delta_link.split("$deltatoken=").nth(1).unwrap();
    let decoded = outpost_emulator::codec::pct_decode(tok);
    let (v, when) = decoded.split_once('!').unwrap();
    assert!(v.parse::<u64>().is_ok());
    assert_eq!(when.len(), "08/22/2017 08:10:44".len());
    assert!(tok.contains("%21") && tok.contains("%2f"), "{tok}");
    // no changes: empty value + new deltaLink
    let (_, _, b) = get_json(&t, &delta_link, None).await;
    assert_eq!(b["value"].as_array().unwrap().len(), 0);
    assert!(b["@odata.deltaLink"].is_string());
    assert!(b["@odata.context"].as_str().unwrap().ends_with("/$delta"));
    // server-side edits and deletes by another user
    let ids = control(&h, reqwest::Method::GET, "/tables/accounts/ids?limit=6", Value::Null).await;
    let ids: Vec<String> = ids["ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect();
    for id in &ids[..3] {
        control(
            &h,
            reqwest::Method::PATCH,
            &format!("/tables/accounts/rows/{id}?as={}", defaults::ADMIN),
            json!({"telephone1": "555-0100"}),
        )
        .await;
    }
    for id in &ids[3..5] {
        control(&h, reqwest::Method::DELETE, &format!("/tables/accounts/rows/{id}"), Value::Null).await;
    }
    let created = control(&h, reqwest::Method::POST, "/tables/accounts/rows", json!({"name": "Server-side new"})).await;
    // delta, paged at 2 per page: 4 upserts then 2 tombstones
    let mut url = delta_link.clone();
    let mut items = Vec::new();
    let mut next_delta = None;
    let mut pages = 0;
    while next_delta.is_none() {
        let (s, _, b) = get_json(&t, &url, Some("odata.maxpagesize=2")).await;
        assert_eq!(s, 200, "{b}");
        pages += 1;
        items.extend(b["value"].as_array().unwrap().iter().cloned());
        match b.get("@odata.nextLink").and_then(Value::as_str) {
            Some(n) => url = n.to_owned(),
            None => next_delta = b["@odata.deltaLink"].as_str().map(str::to_owned),
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(items.len(), 6);
    for (i, it) in items.iter().enumerate() {
        let tomb = it.get("@odata.context").and_then(Value::as_str).is_some_and(|c| c.ends_with("$deletedEntity"));
        assert_eq!(tomb, i >= 4, "changes first, then tombstones: {it}");
        if tomb {
            assert_eq!(it["reason"], "deleted");
            assert!(ids[3..5].contains(&it["id"].as_str().unwrap().to_owned()));
        } else {
            assert!(it["@odata.etag"].is_string() && it["name"].is_string());
        }
    }
    assert!(items.iter().any(|i| i["accountid"] == created["id"]));
    assert!(items.iter().filter(|i| i["telephone1"] == "555-0100").count() == 3);
    let (_, _, b) = get_json(&t, &next_delta.unwrap(), None).await;
    assert_eq!(b["value"].as_array().unwrap().len(), 0);
    // restrictions
    let (s, _, e) = get_json(&t, &api(&h, "accounts?$filter=name ne null"), Some("odata.track-changes")).await;
    assert_eq!(s, 400);
    assert!(e["error"]["message"].as_str().unwrap().contains("$filter"));
    let (s, _, _) = get_json(&t, &api(&h, "accounts?$top=1"), Some("odata.track-changes")).await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn expired_delta_token_and_untracked_table_and_privileges() {
    let mut cfg = EmulatorConfig::default().with_rows(10, 10, 10);
    cfg.tables.push(outpost_emulator::config::TableConfig { table: "tasks".into(), change_tracking: false });
    let h = start(cfg);
    let t = bob_token(&h).await;
    let (_, _, b) = get_json(&t, &api(&h, "accounts?$select=name"), Some("odata.track-changes")).await;
    let delta = b["@odata.deltaLink"].as_str().unwrap().to_owned();
    control(&h, reqwest::Method::POST, "/tokens/expire", json!({"kind": "delta"})).await;
    let (s, _, e) = get_json(&t, &delta, None).await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["code"], "0x80044352");
    assert_eq!(
        e["error"]["message"],
        "Version stamp associated with the client has expired. Please perform a full sync."
    );
    // age-based expiry
    let (_, _, b) = get_json(&t, &api(&h, "accounts?$select=name"), Some("odata.track-changes")).await;
    let delta = b["@odata.deltaLink"].as_str().unwrap().to_owned();
    assert_eq!(get_json(&t, &delta, None).await.0, 200);
    control(&h, reqwest::Method::POST, "/settings", json!({"delta_token_ttl_secs": 0})).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(get_json(&t, &delta, None).await.2["error"]["code"], "0x80044352");
    control(&h, reqwest::Method::POST, "/settings", json!({"delta_token_ttl_secs": 604800})).await;
    // table without change tracking: preference ignored, no deltaLink
    let (s, headers, b) = get_json(&t, &api(&h, "tasks?$select=subject"), Some("odata.track-changes")).await;
    assert_eq!(s, 200);
    assert!(b.get("@odata.deltaLink").is_none());
    assert!(headers.get("preference-applied").is_none());
    let (_, _, m) =
        get_json(&t, &api(&h, "EntityDefinitions(LogicalName='task')?$select=ChangeTrackingEnabled"), None).await;
    assert_eq!(m["ChangeTrackingEnabled"], false);
    // user-level read privilege: normal reads see own rows only, change tracking refused
    control(
        &h,
        reqwest::Method::POST,
        &format!("/users/{}/privileges", defaults::BOB),
        json!({"table": "accounts", "read": "user"}),
    )
    .await;
    let (s, _, e) = get_json(&t, &api(&h, "accounts?$select=name"), Some("odata.track-changes")).await;
    assert_eq!(s, 403);
    assert_eq!(e["error"]["code"], "0x80040220");
    let (s, _, b) = get_json(&t, &api(&h, "accounts?$select=_ownerid_value"), None).await;
    assert_eq!(s, 200);
    let me = h.users()[1].systemuser_id.clone();
    assert!(b["value"].as_array().unwrap().iter().all(|r| r["_ownerid_value"] == me.as_str()));
    control(
        &h,
        reqwest::Method::POST,
        &format!("/users/{}/privileges", defaults::BOB),
        json!({"table": "accounts", "read": "none"}),
    )
    .await;
    assert_eq!(get_json(&t, &api(&h, "accounts"), None).await.0, 403);
}

#[tokio::test]
async fn noise_can_be_switched_off() {
    let h = small();
    let t = bob_token(&h).await;
    let (_, headers, b) = get_json(&t, &api(&h, "accounts?$select=name&$top=1"), None).await;
    assert!(headers.contains_key("req_id"));
    assert!(b["value"][0].get("_owningbusinessunit_value").is_some());
    assert!(b.get("@Microsoft.Dynamics.CRM.totalrecordcount").is_some());
    control(&h, reqwest::Method::POST, "/settings", json!({"noise": false})).await;
    let (_, headers, b) = get_json(&t, &api(&h, "accounts?$select=name&$top=1"), None).await;
    assert!(!headers.contains_key("req_id"));
    let mut keys: Vec<&String> = b["value"][0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(keys, vec!["@odata.etag", "accountid", "name"]);
}

#[tokio::test]
async fn tracked_next_pages_keep_tracking_without_the_preference() {
    let h = start(EmulatorConfig::default().with_rows(30, 0, 0));
    let t = bob_token(&h).await;
    let (_, _, b) =
        get_json(&t, &api(&h, "accounts?$select=name"), Some("odata.track-changes,odata.maxpagesize=20")).await;
    let next = b["@odata.nextLink"].as_str().unwrap().to_owned();
    let (_, _, b) = get_json(&t, &next, Some("odata.maxpagesize=20")).await;
    assert_eq!(b["value"].as_array().unwrap().len(), 10);
    assert!(b["@odata.deltaLink"].is_string());
}

#[tokio::test]
async fn public_url_is_written_into_links() {
    let mut cfg = EmulatorConfig::default().with_rows(30, 0, 0);
    cfg.public_url = Some("http://10.0.2.2:5155".into());
    let h = start(cfg);
    assert_eq!(h.base_url(), "http://10.0.2.2:5155");
    let local = format!("http://{}", h.local_addr());
    let d: Value = client()
        .get(format!("{local}/organizations/v2.0/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["token_endpoint"], "http://10.0.2.2:5155/organizations/oauth2/v2.0/token");
    let tok: Value = client()
        .post(format!("{local}/organizations/oauth2/v2.0/token"))
        .form(&[
            ("client_id", defaults::CLIENT_ID),
            ("grant_type", "password"),
            ("username", defaults::BOB),
            ("password", defaults::BOB_PASSWORD),
            ("scope", "http://10.0.2.2:5155/user_impersonation"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = tok["access_token"].as_str().unwrap();
    let (s, _, b) =
        get_json(t, &format!("{local}/api/data/v9.2/accounts?$select=name"), Some("odata.maxpagesize=10")).await;
    assert_eq!(s, 200);
    assert!(b["@odata.nextLink"].as_str().unwrap().starts_with("http://10.0.2.2:5155/api/data/v9.2/accounts?"));
    let r = client().get(format!("{local}/api/data/v9.2/WhoAmI")).send().await.unwrap();
    assert!(r.headers()["www-authenticate"].to_str().unwrap().contains("authorization_uri=http://10.0.2.2:5155/"));
}

#[test]
fn binary_prints_json_line_with_urls_users_and_secrets() {
    use std::io::BufRead as _;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_outpost-emulator"))
        .args(["--port", "0", "--rows", "10", "--seed", "7", "--json", "--public-url", "http://127.0.0.1:9999"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["base_url"], "http://127.0.0.1:9999");
    assert_eq!(v["client_id"], defaults::CLIENT_ID);
    let alice = v["users"].as_array().unwrap().iter().find(|u| u["upn"] == defaults::ALICE).unwrap();
    assert_eq!(alice["mfa"], true);
    assert_eq!(alice["totp_secret"].as_str().unwrap().len(), 32);
}

#[tokio::test]
async fn expand_single_valued_navigation() {
    let h = small();
    let t = bob_token(&h).await;
    let (s, _, b) = get_json(
        &t,
        &api(&h, "contacts?$select=fullname&$expand=parentcustomerid_account($select=name),ownerid($select=fullname)&$filter=_parentcustomerid_value ne null"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let rows = b["value"].as_array().unwrap();
    assert!(rows.iter().any(|r| r["parentcustomerid_account"]["name"].is_string()));
    // a contact-typed parent does not appear under the account navigation
    assert!(rows
        .iter()
        .all(|r| r["parentcustomerid_account"].is_null() || r["parentcustomerid_account"]["accountid"].is_string()));
    assert!(rows.iter().all(|r| r.get("ownerid").is_some()));
    let (s, _, e) = get_json(&t, &api(&h, "accounts?$expand=contact_customer_accounts"), None).await;
    assert_eq!(s, 400);
    assert!(e["error"]["message"].as_str().unwrap().contains("collection-valued"));
    let (s, _, _) = get_json(&t, &api(&h, "accounts?$expand=primarycontactid($top=1)"), None).await;
    assert_eq!(s, 400);
    let (_, _, list) =
        get_json(&t, &api(&h, "accounts?$select=name&$filter=_primarycontactid_value ne null&$top=1"), None).await;
    let id = list["value"][0]["accountid"].as_str().unwrap();
    let (s, _, row) = get_json(
        &t,
        &api(&h, &format!("accounts({id})?$select=name&$expand=primarycontactid($select=fullname,emailaddress1)")),
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(row["primarycontactid"]["fullname"].is_string() && row["primarycontactid"]["contactid"].is_string());
}

#[tokio::test]
async fn control_api_routes() {
    let h = small();
    let info = control(&h, reqwest::Method::GET, "/", Value::Null).await;
    assert_eq!(info["web_api"], h.web_api_url());
    let alice =
        info["tenants"][0]["users"].as_array().unwrap().iter().find(|u| u["upn"] == defaults::ALICE).unwrap().clone();
    assert_eq!(alice["totp_secret"], h.totp_secret(defaults::ALICE).unwrap());
    let totp = control(&h, reqwest::Method::GET, &format!("/users/{}/totp", defaults::ALICE), Value::Null).await;
    assert_eq!(totp["secret"], alice["totp_secret"]);
    assert_eq!(totp["code"].as_str().unwrap().len(), 6);
    assert!(totp["otpauth_uri"].as_str().unwrap().starts_with("otpauth://totp/"));
    // change tracking toggled at run time
    let t = bob_token(&h).await;
    control(&h, reqwest::Method::POST, "/tables/contacts/change-tracking", json!({"enabled": false})).await;
    let (_, _, b) = get_json(&t, &api(&h, "contacts?$select=fullname"), Some("odata.track-changes")).await;
    assert!(b.get("@odata.deltaLink").is_none());
    assert!(h.set_change_tracking("contacts", true));
    let (_, _, b) = get_json(&t, &api(&h, "contacts?$select=fullname"), Some("odata.track-changes")).await;
    assert!(b["@odata.deltaLink"].is_string());
    // metadata by MetadataId and the other relationship lists
    let (_, _, e) = get_json(&t, &api(&h, "EntityDefinitions(LogicalName='account')?$select=LogicalName"), None).await;
    let mid = e["MetadataId"].as_str().unwrap().to_owned();
    let (s, _, e2) = get_json(&t, &api(&h, &format!("EntityDefinitions({mid})?$select=LogicalName")), None).await;
    assert_eq!((s, e2["LogicalName"].as_str()), (200, Some("account")));
    let (_, _, one_to_many) = get_json(
        &t,
        &api(&h, "EntityDefinitions(LogicalName='account')/OneToManyRelationships?$select=SchemaName"),
        None,
    )
    .await;
    assert!(one_to_many["value"].as_array().unwrap().iter().any(|r| r["SchemaName"] == "Account_Tasks"));
    let r = client()
        .get(format!("{}/api/data/v9.2/$metadata?annotations=true", h.org_url()))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("Org.OData.Capabilities.V1.ChangeTracking"));
    // settings, requests, counters
    let settings = control(&h, reqwest::Method::GET, "/settings", Value::Null).await;
    assert_eq!(settings["noise"], true);
    assert_eq!(h.settings().concurrency_limit, 52);
    h.update_settings(|s| s.concurrency_limit = 10);
    assert_eq!(control(&h, reqwest::Method::GET, "/settings", Value::Null).await["concurrency_limit"], 10);
    assert!(!h.requests().is_empty());
    let cleared = control(&h, reqwest::Method::DELETE, "/requests", Value::Null).await;
    assert_eq!(cleared["cleared"], true);
    let page = client().get(format!("{}/devicelogin", h.base_url())).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("id=\"otc\""));
    // Rust-side expiry helpers
    h.expire_access_tokens();
    assert_eq!(get_json(&t, &api(&h, "WhoAmI"), None).await.0, 401);
}
