//! `migrate` applies the migrations once, and makes a working API key; bad requests are
//! named and store nothing.

use std::sync::Arc;

use helios_app::migrate::Migrate;
use helios_ports::SystemClock;
use helios_store::{Role, SqliteStore, Store};
use serde_json::json;

fn migrate(dir: &tempfile::TempDir) -> (Migrate, Arc<dyn Store>) {
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("helios.db")).unwrap());
    (
        Migrate {
            keys: store.clone(),
            schema: store.clone(),
            clock: Arc::new(SystemClock),
            app_role: None,
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
    let key = store
        .find_api_key(&helios_app::keys::hash(secret))
        .await
        .unwrap()
        .expect("the key is stored by its hash");
    assert_eq!(key.role, Role::Admin);
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

/// On PostgreSQL, migrate grants the functions' role after migrating (on every run: the
/// grant is what later migrations' tables need too), and says so.
#[tokio::test]
async fn on_postgres_the_functions_role_is_granted_on_every_run() {
    let cluster = helios_testkit::postgres::Cluster::start().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.create_database("migrate").unwrap();
    let pg = helios_store::PgStore::connect(&url, 1).unwrap();
    let m = Migrate {
        keys: Arc::new(pg.clone()),
        schema: Arc::new(pg.clone()),
        clock: Arc::new(SystemClock),
        app_role: Some(helios_app::migrate::AppRole {
            name: "helios_app".into(),
            login: helios_store::Login::Iam,
            store: Arc::new(pg),
        }),
    };
    let first = m.handle(json!({})).await.unwrap();
    assert_eq!(first["granted"], "helios_app", "{first}");
    assert!(first["applied"].as_u64().unwrap() > 0, "{first}");
    assert_eq!(
        m.handle(json!({})).await.unwrap(),
        json!({"applied": 0, "granted": "helios_app"})
    );

    // The role reads and writes every table migrate made.
    let app = url.replacen("postgres://postgres@", "postgres://helios_app@", 1);
    let (client, connection) = tokio_postgres::connect(&app, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    let tables: Vec<String> = client
        .query(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(tables.contains(&"facts".to_string()), "{tables:?}");
    for t in &tables {
        // One privilege at a time: with a list, has_table_privilege answers whether any.
        for privilege in ["SELECT", "INSERT", "UPDATE", "DELETE"] {
            let can: bool = client
                .query_one(
                    "SELECT has_table_privilege(current_user, $1, $2)",
                    &[t, &privilege],
                )
                .await
                .unwrap()
                .get(0);
            assert!(can, "helios_app has no {privilege} on {t}");
        }
    }
}
