//! PostgreSQL over TLS, as RDS requires it: `sslmode=require` connects only to a server whose
//! certificate the given CA file vouches for, host name included.

use helios_store::prelude::*;
use helios_store::{PgStore, PgTls};

#[tokio::test]
async fn tls_is_verified_against_the_ca_file() {
    let cluster = helios_testkit::postgres::Cluster::start_tls().unwrap_or_else(|e| panic!("{e}"));
    let url = cluster.create_database("tls").unwrap();
    let tls_url = format!("{url}?sslmode=require");
    let trusted = PgTls {
        ca_file: Some(cluster.certificate()),
    };

    let store = PgStore::connect_with(&tls_url, 2, &trusted).unwrap();
    store.migrate().await.unwrap();
    assert!(store.list_api_keys().await.unwrap().is_empty());

    // The Mozilla roots do not vouch for a self-signed certificate: no connection.
    let untrusted = PgStore::connect_with(&tls_url, 2, &PgTls::default()).unwrap();
    let e = untrusted.migrate().await.unwrap_err().to_string();
    assert!(e.to_lowercase().contains("certificate"), "{e}");

    // A CA file that is not PEM is refused when the store is made, with its name.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("ca.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let err = PgStore::connect_with(
        &tls_url,
        2,
        &PgTls {
            ca_file: Some(bad.clone()),
        },
    )
    .err()
    .unwrap()
    .to_string();
    assert!(err.contains("ca.pem"), "{err}");

    // Without sslmode=require the connection is plain TCP, as before.
    let plain = PgStore::connect_with(&url, 2, &PgTls::default()).unwrap();
    assert!(plain.list_api_keys().await.unwrap().is_empty());
}
