//! `migrate` applies the migrations once, and makes a working API key; bad requests are
//! named and store nothing.

use std::sync::Arc;
use std::time::Duration;

use helios_api::ApiKeyAuth;
use helios_migrate::Migrate;
use helios_ports::SystemClock;
use helios_store::{Role, SqliteStore, Store};
use serde_json::json;

fn migrate(dir: &tempfile::TempDir) -> (Migrate, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("helios.db")).unwrap());
    (
        Migrate {
            store: store.clone(),
            clock: Arc::new(SystemClock),
        },
        store,
    )
}

#[tokio::test]
async fn migrations_are_applied_once() {
    let dir = tempfile::tempdir().unwrap();
    let (m, _) = migrate(&dir);
    let first = m.handle(json!({})).await.unwrap();
    assert!(first["applied"].as_u64().unwrap() > 0, "{first}");
    assert_eq!(
        m.handle(serde_json::Value::Null).await.unwrap(),
        json!({"applied": 0})
    );
}

#[tokio::test]
async fn the_first_key_of_a_deployment_authenticates_with_its_role() {
    let dir = tempfile::tempdir().unwrap();
    let (m, store) = migrate(&dir);
    let out = m
        .handle(json!({"create_key": {"name": "ops", "role": "admin", "rate": 20}}))
        .await
        .unwrap();
    assert_eq!(out["role"], "admin");
    let secret = out["key"].as_str().unwrap();
    let mut headers = http::HeaderMap::new();
    headers.insert("x-api-key", secret.parse().unwrap());
    let auth = ApiKeyAuth::new(store.clone(), Duration::from_secs(1));
    let key = auth.require(&headers, Role::Admin).await.unwrap();
    assert_eq!(key.name, "ops");
    assert_eq!(key.rate_per_second, Some(20));
    assert_eq!(key.id, out["id"].as_str().unwrap());
}

#[tokio::test]
async fn a_bad_request_is_named_and_stores_no_key() {
    let dir = tempfile::tempdir().unwrap();
    let (m, store) = migrate(&dir);
    for bad in [
        json!({"create_key": {"name": "ops", "role": "root"}}),
        json!({"create_key": {"role": "admin"}}),
        json!({"drop": true}),
        json!([1]),
    ] {
        let e = m.handle(bad.clone()).await.unwrap_err();
        assert_eq!(e.error, "Helios.BadRequest", "{bad}: {}", e.cause);
    }
    m.handle(json!({})).await.unwrap();
    assert!(store.list_api_keys().await.unwrap().is_empty());
}
