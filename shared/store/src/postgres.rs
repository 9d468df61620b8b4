//! The store on PostgreSQL (RDS in AWS), through a `deadpool-postgres` pool.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::types::Json;
use tokio_postgres::{NoTls, Row};

use crate::{
    migrations, rules_column, rules_from_column, ApiKey, DecisionPage, DecisionQuery, Fact,
    FactPage, FactQuery, NearMissQuery, NearMissRow, NewDecision, NewFact, Outcome, RawRef,
    Recorded, Role, SloCounts, SloQuery, StatRow, StatsQuery, StoreError, StoredDecision,
    SLO_SLOT_SECONDS,
};
use crate::{
    ApiKeys, Decisions, Facts, Held, HoldStatus, Login, Outbox, Outboxed, Outcomes, Quarantine,
    Schema, SchemaRegistry, SchemaVersion, Stats, Subject, SubjectSettings,
};

const DECISION_COLUMNS: &str =
    "seq, id, event_id, ruleset, ruleset_hash, subject, severity, score, rules, decided_at, body";

fn to_decision(r: &Row) -> Result<StoredDecision, StoreError> {
    let id: String = r.try_get(1).map_err(unavailable)?;
    let Json(body) = r
        .try_get::<_, Json<serde_json::Value>>(10)
        .map_err(|e| StoreError::Corrupt(format!("decision {id}: {e}")))?;
    let rules: String = r.try_get(8).map_err(unavailable)?;
    Ok(StoredDecision {
        seq: r.try_get(0).map_err(unavailable)?,
        decision: NewDecision {
            event_id: r.try_get(2).map_err(unavailable)?,
            ruleset: r.try_get(3).map_err(unavailable)?,
            ruleset_hash: r.try_get(4).map_err(unavailable)?,
            subject: r.try_get(5).map_err(unavailable)?,
            severity: r.try_get(6).map_err(unavailable)?,
            score: r.try_get(7).map_err(unavailable)?,
            rules: rules_from_column(&rules),
            decided_at: r.try_get(9).map_err(unavailable)?,
            body,
            id,
        },
    })
}

/// The store on PostgreSQL.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// The password of new connections, when it is made rather than given (an IAM
    /// authentication token): refreshed before a connection may be needed.
    password: Option<std::sync::Arc<RotatingPassword>>,
    /// Decisions waiting to be inserted together (see [`PgStore::record_decision`]).
    decisions: std::sync::Arc<std::sync::Mutex<DecisionGroup>>,
}

/// A decision waiting for its group's insert, and where its answer goes.
type PendingDecision = (
    NewDecision,
    tokio::sync::oneshot::Sender<Result<Recorded, StoreError>>,
);

/// Group commit of decisions: calls that arrive while a group is being inserted wait and
/// go in together, in the next group.
#[derive(Default)]
struct DecisionGroup {
    pending: Vec<PendingDecision>,
    /// Whether a task is inserting groups (it takes every pending decision when it is done).
    inserting: bool,
}

/// The most decisions inserted by one statement.
const DECISION_GROUP: usize = 256;

/// Where the password of a new connection comes from when it is not in the URL: an RDS IAM
/// authentication token, made for a few minutes at a time.
#[async_trait]
pub trait PasswordSource: Send + Sync {
    /// A password valid for at least [`PASSWORD_REFRESH`] from now.
    async fn password(&self) -> Result<String, String>;
}

/// How long a made password is used before a fresh one is made (an RDS token is valid for
/// 15 minutes; a connection needs it only while connecting).
pub const PASSWORD_REFRESH: std::time::Duration = std::time::Duration::from_secs(10 * 60);

struct RotatingPassword {
    source: std::sync::Arc<dyn PasswordSource>,
    current: std::sync::Mutex<Option<(String, std::time::Instant)>>,
}

impl RotatingPassword {
    fn current(&self) -> Option<String> {
        self.current
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|(p, _)| p.clone())
    }

    /// Drops the current password, so that the next connection makes a fresh one.
    fn forget(&self) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Makes a fresh password when there is none or it is older than [`PASSWORD_REFRESH`].
    async fn refresh(&self) -> Result<(), StoreError> {
        let stale = match &*self.current.lock().unwrap_or_else(|e| e.into_inner()) {
            Some((_, made)) => made.elapsed() >= PASSWORD_REFRESH,
            None => true,
        };
        if stale {
            let password = self
                .source
                .password()
                .await
                .map_err(|e| StoreError::Unavailable(format!("the database password: {e}")))?;
            *self.current.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((password, std::time::Instant::now()));
        }
        Ok(())
    }
}

/// Connects with the rotating password set on the configuration.
struct WithPassword<T> {
    tls: T,
    password: std::sync::Arc<RotatingPassword>,
}

impl<T> deadpool_postgres::Connect for WithPassword<T>
where
    T: tokio_postgres::tls::MakeTlsConnect<tokio_postgres::Socket> + Clone + Sync + Send + 'static,
    T::Stream: Sync + Send,
    T::TlsConnect: Sync + Send,
    <T::TlsConnect as tokio_postgres::tls::TlsConnect<tokio_postgres::Socket>>::Future: Send,
{
    fn connect(
        &self,
        pg_config: &tokio_postgres::Config,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<
                        (tokio_postgres::Client, tokio::task::JoinHandle<()>),
                        tokio_postgres::Error,
                    >,
                > + Send
                + '_,
        >,
    > {
        let mut config = pg_config.clone();
        if let Some(p) = self.password.current() {
            config.password(p);
        }
        let tls = self.tls.clone();
        Box::pin(async move {
            let (client, connection) = config.connect(tls).await?;
            let task = tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::warn!("database connection: {e}");
                }
            });
            Ok((client, task))
        })
    }
}

/// The URL of database `database` at `host:port` for `user`, without a password (a
/// [`PasswordSource`] gives it), always with `sslmode=require`: the connection is encrypted
/// and the server's certificate verified.
pub fn tls_url(user: &str, host: &str, port: u16, database: &str) -> String {
    let enc = |s: &str| urlencoding::encode(s).into_owned();
    format!(
        "postgres://{}@{host}:{port}/{}?sslmode=require",
        enc(user),
        enc(database)
    )
}

/// A PostgreSQL role name Helios may put in a statement: lower-case letters, digits and
/// underscores, not starting with a digit, at most 63 bytes (identifiers cannot be bound
/// as parameters, so nothing else is let through).
fn role_name(role: &str) -> Result<&str, StoreError> {
    let ok = !role.is_empty()
        && role.len() <= 63
        && role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !role.starts_with(|c: char| c.is_ascii_digit());
    if ok {
        Ok(role)
    } else {
        Err(StoreError::Invalid(format!(
            "`{role}` is not a role name Helios uses: lower-case letters, digits and _, at most 63"
        )))
    }
}

/// A database error as the store's, with its causes: tokio-postgres says only "db error",
/// and the server's message (`permission denied for schema public`) is the source's.
fn unavailable(e: impl std::error::Error) -> StoreError {
    StoreError::Unavailable(chain(&e))
}

/// A value the database refuses (SQLSTATE class 22, data exception: a NUL character in a
/// text, say) is invalid, and retrying it cannot help; any other failure is unavailability.
fn refused_or_unavailable(e: tokio_postgres::Error) -> StoreError {
    match e.code() {
        Some(code) if code.code().starts_with("22") => StoreError::Invalid(chain(&e)),
        _ => unavailable(e),
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

/// Arbitrary but fixed: the advisory lock that serialises concurrent migrators.
const MIGRATION_LOCK: i64 = 0x4845_4c49_4f53;

/// How to check the server's certificate when the URL asks for TLS (`sslmode=require`):
/// against the CA certificates of a PEM file (for RDS, its CA bundle), or else
/// against the Mozilla roots. The certificate is always verified, host name included.
#[derive(Clone, Debug, Default)]
pub struct PgTls {
    pub ca_file: Option<std::path::PathBuf>,
}

impl PgTls {
    /// From `HELIOS_DB_CA_FILE`, when set.
    pub fn from_env() -> PgTls {
        PgTls {
            ca_file: std::env::var_os("HELIOS_DB_CA_FILE")
                .filter(|f| !f.is_empty())
                .map(Into::into),
        }
    }

    fn connector(&self) -> Result<tokio_postgres_rustls::MakeRustlsConnect, StoreError> {
        use rustls_pki_types::pem::PemObject as _;
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                let certs = rustls_pki_types::CertificateDer::pem_file_iter(path)
                    .map_err(|e| {
                        StoreError::Invalid(format!("the CA file {}: {e}", path.display()))
                    })?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| {
                        StoreError::Invalid(format!("the CA file {}: {e}", path.display()))
                    })?;
                let (added, _) = roots.add_parsable_certificates(certs);
                if added == 0 {
                    return Err(StoreError::Invalid(format!(
                        "the CA file {} holds no usable certificate",
                        path.display()
                    )));
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        // The provider is named: more than one is linked into Helios' binaries.
        let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Invalid(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user:password@host:port/db`, `?sslmode=require` for
    /// TLS), with a pool of `size`; TLS certificates are checked as [`PgTls::from_env`] says.
    pub fn connect(url: &str, size: usize) -> Result<PgStore, StoreError> {
        PgStore::connect_with(url, size, &PgTls::from_env())
    }

    /// [`PgStore::connect`] with the certificate check given.
    pub fn connect_with(url: &str, size: usize, tls: &PgTls) -> Result<PgStore, StoreError> {
        PgStore::build(url, size, tls, None)
    }

    /// [`PgStore::connect`] for a user without a password in `url`: each new connection
    /// takes the password `source` makes (an RDS IAM authentication token), made afresh
    /// every [`PASSWORD_REFRESH`].
    pub fn connect_with_password(
        url: &str,
        size: usize,
        source: std::sync::Arc<dyn PasswordSource>,
    ) -> Result<PgStore, StoreError> {
        PgStore::build(url, size, &PgTls::from_env(), Some(source))
    }

    fn build(
        url: &str,
        size: usize,
        tls: &PgTls,
        source: Option<std::sync::Arc<dyn PasswordSource>>,
    ) -> Result<PgStore, StoreError> {
        let password = source.map(|source| {
            std::sync::Arc::new(RotatingPassword {
                source,
                current: std::sync::Mutex::new(None),
            })
        });
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Invalid(format!("database URL is not valid: {e}")))?;
        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        // TLS when the URL asks for it (`sslmode=require`), always verified; otherwise
        // (`disable`, or `prefer`, the default) plain TCP.
        let require_tls = config.get_ssl_mode() == tokio_postgres::config::SslMode::Require;
        let manager = match (require_tls, &password) {
            (true, Some(p)) => Manager::from_connect(
                config,
                WithPassword {
                    tls: tls.connector()?,
                    password: p.clone(),
                },
                manager_config,
            ),
            (false, Some(p)) => Manager::from_connect(
                config,
                WithPassword {
                    tls: NoTls,
                    password: p.clone(),
                },
                manager_config,
            ),
            (true, None) => Manager::from_config(config, tls.connector()?, manager_config),
            (false, None) => Manager::from_config(config, NoTls, manager_config),
        };
        let pool = Pool::builder(manager)
            .max_size(size)
            .build()
            .map_err(unavailable)?;
        Ok(PgStore {
            pool,
            password,
            decisions: Default::default(),
        })
    }

    /// Gives `role` what the functions need and nothing more: it may log in, read and write
    /// the rows of every table (and use their sequences), today's tables and those later
    /// migrations make; it may not change the schema. How it logs in is `login`'s: with
    /// IAM authentication tokens (on RDS it is granted `rds_iam`, which turns its password
    /// off) or with a password (for RDS Proxy, which logs in to the database with a secret
    /// on the functions' behalf). Idempotent: `migrate` runs it on every deploy.
    async fn grant_dml_to(&self, role: &str, login: &Login) -> Result<(), StoreError> {
        let role = role_name(role)?;
        let c = self.client().await?;
        let login_sql = match login {
            Login::Iam => format!(
                "IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN
                   GRANT rds_iam TO {role};
                 END IF;"
            ),
            Login::Password(_) => format!(
                "IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'rds_iam') THEN
                   REVOKE rds_iam FROM {role};
                 END IF;"
            ),
        };
        // A password is sent as its SCRAM verifier, never as itself: the parameter group
        // logs every DDL statement, and the log must not hold it. (A verifier is base64 and
        // `$`/`:`, nothing that needs quoting.)
        let password_sql = match login {
            Login::Iam => String::new(),
            Login::Password(p) => format!(
                "ALTER ROLE {role} PASSWORD '{}';",
                postgres_protocol::password::scram_sha_256(p.as_bytes())
            ),
        };
        let sql = format!(
            "DO $$ BEGIN
               IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                 CREATE ROLE {role} LOGIN;
               END IF;
               {login_sql}
               EXECUTE format('GRANT CONNECT ON DATABASE %I TO {role}', current_database());
             END $$;
             {password_sql}
             GRANT USAGE ON SCHEMA public TO {role};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role};
             GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role};
             ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {role};
             ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role};"
        );
        c.batch_execute(&sql).await.map_err(|e| {
            StoreError::Unavailable(format!(
                "granting {role}: {}",
                e.as_db_error()
                    .map(|d| d.message().to_string())
                    .unwrap_or_else(|| e.to_string())
            ))
        })
    }

    /// Inserts pending decisions a group at a time until none is left.
    async fn insert_decision_groups(&self) {
        // Should this task end before it has emptied the queue (a panic, the runtime
        // shutting down), the guard lets the next call start another, and answers the
        // decisions left with an error (the callers retry) rather than never.
        struct Unfinished<'a>(&'a std::sync::Mutex<DecisionGroup>, bool);
        impl Drop for Unfinished<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
                    g.pending.clear();
                    g.inserting = false;
                }
            }
        }
        let mut guard = Unfinished(&self.decisions, false);
        loop {
            let group: Vec<PendingDecision> = {
                let mut g = self.decisions.lock().unwrap_or_else(|e| e.into_inner());
                if g.pending.is_empty() {
                    g.inserting = false;
                    guard.1 = true;
                    return;
                }
                let n = g.pending.len().min(DECISION_GROUP);
                g.pending.drain(..n).collect()
            };
            let decisions: Vec<&NewDecision> = group.iter().map(|(d, _)| d).collect();
            let answers = match self.insert_decisions(&decisions).await {
                Ok(answers) => answers,
                // One decision the database refuses must not fail the others with it (they
                // would come back together, and fail together again): each alone, then.
                Err(StoreError::Invalid(_)) | Err(StoreError::Corrupt(_)) if group.len() > 1 => {
                    let mut answers = Vec::with_capacity(group.len());
                    for d in &decisions {
                        answers.push(
                            self.insert_decisions(&[d])
                                .await
                                .and_then(|mut a| a.pop().unwrap_or(Ok(Recorded::Duplicate))),
                        );
                    }
                    answers
                }
                Err(e) => group.iter().map(|_| Err(e.clone())).collect(),
            };
            for ((_, tx), answer) in group.into_iter().zip(answers) {
                let _ = tx.send(answer); // a caller that stopped waiting needs no answer
            }
        }
    }

    /// One statement for every decision given; each answered as inserted, or as a duplicate
    /// of one stored (or of one earlier in the same group).
    async fn insert_decisions(
        &self,
        ds: &[&NewDecision],
    ) -> Result<Vec<Result<Recorded, StoreError>>, StoreError> {
        let c = self.client().await?;
        let insert = c
            .prepare_cached(
                "INSERT INTO decisions (id, event_id, ruleset, ruleset_hash, subject, severity, score, rules, decided_at, body)
                 SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                      $7::float8[], $8::text[], $9::timestamptz[], $10::json[])
                 ON CONFLICT DO NOTHING
                 RETURNING id",
            )
            .await
            .map_err(unavailable)?;
        let rules: Vec<String> = ds.iter().map(|d| rules_column(&d.rules)).collect();
        let started = std::time::Instant::now();
        let inserted: std::collections::HashSet<String> = c
            .query(
                &insert,
                &[
                    &ds.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
                    &ds.iter().map(|d| d.event_id.as_str()).collect::<Vec<_>>(),
                    &ds.iter().map(|d| d.ruleset.as_str()).collect::<Vec<_>>(),
                    &ds.iter()
                        .map(|d| d.ruleset_hash.as_str())
                        .collect::<Vec<_>>(),
                    &ds.iter().map(|d| d.subject.as_deref()).collect::<Vec<_>>(),
                    &ds.iter().map(|d| d.severity.as_deref()).collect::<Vec<_>>(),
                    &ds.iter().map(|d| d.score).collect::<Vec<_>>(),
                    &rules,
                    &ds.iter().map(|d| d.decided_at).collect::<Vec<_>>(),
                    &ds.iter().map(|d| Json(&d.body)).collect::<Vec<_>>(),
                ],
            )
            .await
            .map_err(refused_or_unavailable)?
            .iter()
            .map(|r| r.try_get::<_, String>(0).map_err(unavailable))
            .collect::<Result<_, _>>()?;
        // One statement, its own transaction.
        helios_ports::observe::committed("postgres", started.elapsed());
        let mut seen = std::collections::HashSet::new();
        Ok(ds
            .iter()
            .map(|d| {
                Ok(if inserted.contains(&d.id) && seen.insert(d.id.as_str()) {
                    Recorded::Accepted
                } else {
                    Recorded::Duplicate
                })
            })
            .collect())
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StoreError> {
        if let Some(p) = &self.password {
            p.refresh().await?;
        }
        self.pool.get().await.map_err(|e| {
            // A rejected password that is made (a token, a secret RDS rotates) is made
            // afresh for the next connection; this call fails, and is retried as any other.
            if password_rejected(&e) {
                if let Some(p) = &self.password {
                    tracing::warn!("the database rejected the password (rotated, or a token expired): a fresh one is made for the next connection");
                    p.forget();
                }
            }
            // The cause (a refused certificate, say) is in the chain, not the top error.
            StoreError::Unavailable(chain(&e))
        })
    }
}

/// Whether a pool error is the server rejecting the password (SQLSTATE 28P01).
fn password_rejected(e: &deadpool_postgres::PoolError) -> bool {
    matches!(e, deadpool_postgres::PoolError::Backend(b)
        if b.code() == Some(&tokio_postgres::error::SqlState::INVALID_PASSWORD))
}

fn to_fact(r: &Row) -> Result<Fact, StoreError> {
    let seq: i64 = r.try_get(0).map_err(unavailable)?;
    let Json(event) = r
        .try_get::<_, Json<helios_events::Event>>(1)
        .map_err(|e| StoreError::Corrupt(format!("fact {seq}: {e}")))?;
    Ok(Fact {
        seq,
        event,
        raw: RawRef {
            key: r.try_get(2).map_err(unavailable)?,
            index: r.try_get::<_, i32>(3).map_err(unavailable)? as u32,
        },
    })
}

fn to_key(r: &Row) -> Result<ApiKey, StoreError> {
    let role: String = r.try_get(2).map_err(unavailable)?;
    Ok(ApiKey {
        id: r.try_get(0).map_err(unavailable)?,
        name: r.try_get(1).map_err(unavailable)?,
        role: role.parse::<Role>().map_err(StoreError::Corrupt)?,
        hash: r.try_get(3).map_err(unavailable)?,
        rate_per_second: r
            .try_get::<_, Option<i32>>(4)
            .map_err(unavailable)?
            .map(|v| v as u32),
        created_at: r.try_get(5).map_err(unavailable)?,
        revoked_at: r.try_get(6).map_err(unavailable)?,
        sources: crate::key_sources(
            r.try_get::<_, Option<String>>(7)
                .map_err(unavailable)?
                .as_deref(),
        )?,
    })
}

const FACT_COLUMNS: &str = "seq, event, raw_key, raw_index";
const KEY_COLUMNS: &str = "id, name, role, hash, rate_per_second, created_at, revoked_at, sources";

#[async_trait]
impl Schema for PgStore {
    async fn migrate(&self) -> Result<usize, StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(unavailable)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(unavailable)?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
        )
        .await
        .map_err(unavailable)?;
        let current: i64 = tx
            .query_one(
                "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_migrations",
                &[],
            )
            .await
            .map_err(unavailable)?
            .get(0);
        let mut applied = 0;
        for m in migrations::POSTGRES.iter().filter(|m| m.version > current) {
            tx.batch_execute(m.sql)
                .await
                .map_err(|e| StoreError::Migration {
                    version: m.version,
                    name: m.name.into(),
                    message: e
                        .as_db_error()
                        .map(|d| d.message().to_string())
                        .unwrap_or_else(|| e.to_string()),
                })?;
            tx.execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[&m.version, &m.name],
            )
            .await
            .map_err(unavailable)?;
            tracing::info!(version = m.version, name = m.name, "applied migration");
            applied += 1;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(applied)
    }
}

#[async_trait]
impl Facts for PgStore {
    /// One statement for the whole batch, whatever its size: the facts go in as arrays
    /// (in the batch's order, so their `seq` follows it), those inserted get their outbox
    /// rows in the same statement, and a fact whose `helios_id` (the hash of its `(source, id)`)
    /// is already stored, or is repeated earlier in the batch, is skipped by its unique index.
    async fn record_facts(&self, facts: &[NewFact]) -> Result<Vec<Recorded>, StoreError> {
        if facts.is_empty() {
            return Ok(Vec::new());
        }
        let mut c = self.client().await?;
        let started = std::time::Instant::now();
        let tx = c.transaction().await.map_err(unavailable)?;
        let insert = tx
            .prepare_cached(
                "WITH input AS (
                   SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[],
                                        $6::timestamptz[], $7::timestamptz[], $8::json[], $9::text[], $10::int[])
                     WITH ORDINALITY AS t(helios_id, source, source_id, type, subject, time, received_at, event, raw_key, raw_index, ord)
                 ), inserted AS (
                   INSERT INTO facts (helios_id, source, source_id, type, subject, time, received_at, event, raw_key, raw_index)
                   SELECT helios_id, source, source_id, type, subject, time, received_at, event, raw_key, raw_index
                   FROM input ORDER BY ord
                   ON CONFLICT DO NOTHING
                   RETURNING seq, helios_id, received_at
                 ), outboxed AS (
                   INSERT INTO outbox (helios_id, seq, created_at)
                   SELECT helios_id, seq, received_at FROM inserted
                   WHERE NOT (helios_id = ANY($11::text[]))
                 ), held AS (
                   INSERT INTO quarantine (helios_id, seq, source, type, held_at, reason, status)
                   SELECT i.helios_id, i.seq, h.source, h.type, i.received_at, h.reason, 'held'
                   FROM inserted i
                   JOIN UNNEST($11::text[], $12::jsonb[], $13::text[], $14::text[])
                        AS h(helios_id, reason, source, type) ON h.helios_id = i.helios_id
                 ), violated AS (
                   INSERT INTO schema_violations (source, type, version, count)
                   SELECT v.source, v.type, v.version, count(*)
                   FROM inserted i
                   JOIN UNNEST($15::text[], $16::text[], $17::text[], $18::int[])
                        AS v(helios_id, source, type, version) ON v.helios_id = i.helios_id
                   GROUP BY v.source, v.type, v.version
                   ON CONFLICT (source, type, version) DO UPDATE SET count = schema_violations.count + excluded.count
                 )
                 SELECT helios_id FROM inserted",
            )
            .await
            .map_err(unavailable)?;
        let ids: Vec<&str> = facts.iter().map(|f| f.event.helios_id.as_str()).collect();
        let sources: Vec<&str> = facts.iter().map(|f| f.event.source.as_str()).collect();
        let source_ids: Vec<&str> = facts.iter().map(|f| f.event.id.as_str()).collect();
        let types: Vec<&str> = facts.iter().map(|f| f.event.event_type.as_str()).collect();
        let subjects: Vec<Option<&str>> =
            facts.iter().map(|f| f.event.subject.as_deref()).collect();
        let times: Vec<DateTime<Utc>> = facts.iter().map(|f| f.event.time).collect();
        let received: Vec<DateTime<Utc>> = facts.iter().map(|f| f.event.received_at).collect();
        let events: Vec<Json<&helios_events::Event>> =
            facts.iter().map(|f| Json(&f.event)).collect();
        let raw_keys: Vec<&str> = facts.iter().map(|f| f.raw.key.as_str()).collect();
        let raw_indexes: Vec<i32> = facts.iter().map(|f| f.raw.index as i32).collect();
        // The held facts, each once (the first of a repeated id is the one inserted).
        let mut held_ids: Vec<&str> = Vec::new();
        let mut held_reasons: Vec<Json<&serde_json::Value>> = Vec::new();
        let mut held_sources: Vec<&str> = Vec::new();
        let mut held_types: Vec<&str> = Vec::new();
        // The facts that did not fit their schema, each once, to count per version.
        let mut violated_ids: Vec<&str> = Vec::new();
        let mut violated_sources: Vec<&str> = Vec::new();
        let mut violated_types: Vec<&str> = Vec::new();
        let mut violated_versions: Vec<i32> = Vec::new();
        for f in facts {
            if let Some(check) = f.event.schema.as_ref().filter(|c| !c.valid) {
                if !violated_ids.contains(&f.event.helios_id.as_str()) {
                    violated_ids.push(&f.event.helios_id);
                    violated_sources.push(&f.event.source);
                    violated_types.push(&f.event.event_type);
                    violated_versions.push(check.version as i32);
                }
            }
            if let Some(reason) = &f.hold {
                if !held_ids.contains(&f.event.helios_id.as_str()) {
                    held_ids.push(&f.event.helios_id);
                    held_reasons.push(Json(reason));
                    held_sources.push(&f.event.source);
                    held_types.push(&f.event.event_type);
                }
            }
        }
        let inserted: std::collections::HashSet<String> = tx
            .query(
                &insert,
                &[
                    &ids,
                    &sources,
                    &source_ids,
                    &types,
                    &subjects,
                    &times,
                    &received,
                    &events,
                    &raw_keys,
                    &raw_indexes,
                    &held_ids,
                    &held_reasons,
                    &held_sources,
                    &held_types,
                    &violated_ids,
                    &violated_sources,
                    &violated_types,
                    &violated_versions,
                ],
            )
            .await
            .map_err(unavailable)?
            .iter()
            .map(|r| r.try_get::<_, String>(0).map_err(unavailable))
            .collect::<Result<_, _>>()?;
        tx.commit().await.map_err(unavailable)?;
        helios_ports::observe::committed("postgres", started.elapsed());
        // The first of the batch with an inserted id is the one inserted; a repeat of it
        // later in the batch is a duplicate, as is every fact whose id was not inserted.
        let mut seen = std::collections::HashSet::new();
        Ok(facts
            .iter()
            .map(|f| {
                let id = f.event.helios_id.as_str();
                if inserted.contains(id) && seen.insert(id) {
                    Recorded::Accepted
                } else {
                    Recorded::Duplicate
                }
            })
            .collect())
    }

    async fn get_fact(&self, helios_id: &str) -> Result<Option<Fact>, StoreError> {
        let c = self.client().await?;
        c.query_opt(
            &format!("SELECT {FACT_COLUMNS} FROM facts WHERE helios_id = $1"),
            &[&helios_id],
        )
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(to_fact)
        .transpose()
    }

    async fn list_facts(&self, q: &FactQuery) -> Result<FactPage, StoreError> {
        let c = self.client().await?;
        let (past, order, after) = crate::seq_order(q.newest_first, q.after);
        let limit = q.limit as i64 + 1;
        let rows = c
            .query(
                &format!(
                    "SELECT {FACT_COLUMNS} FROM facts
                     WHERE {past} $1 AND ($2::TEXT IS NULL OR source = $2) AND ($3::TEXT IS NULL OR type = $3)
                       AND ($4::TIMESTAMPTZ IS NULL OR time >= $4) AND ($5::TIMESTAMPTZ IS NULL OR time < $5)
                       AND ($7::TEXT IS NULL OR subject = $7)
                     {order} LIMIT $6"
                ),
                &[&after, &q.source, &q.event_type, &q.since, &q.until, &limit, &q.subject],
            )
            .await
            .map_err(unavailable)?;
        let mut facts = rows.iter().map(to_fact).collect::<Result<Vec<_>, _>>()?;
        let next = crate::cut_page(&mut facts, q.limit, |f| f.seq);
        Ok(FactPage { facts, next })
    }
}

#[async_trait]
impl Outbox for PgStore {
    async fn pending_outbox(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<Outboxed>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT f.seq, f.event, f.raw_key, f.raw_index, o.helios_id FROM outbox o JOIN facts f ON f.helios_id = o.helios_id
                 WHERE o.created_at < $1 ORDER BY o.seq LIMIT $2",
                &[&before, &(limit as i64)],
            )
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok(match to_fact(r) {
                    Ok(f) => Outboxed::Ready(f),
                    Err(e) => Outboxed::Unreadable {
                        helios_id: r.try_get(4).map_err(unavailable)?,
                        seq: r.try_get(0).map_err(unavailable)?,
                        problem: e.to_string(),
                    },
                })
            })
            .collect()
    }

    async fn mark_published(&self, helios_ids: &[String]) -> Result<(), StoreError> {
        let c = self.client().await?;
        let delete = c
            .prepare_cached("DELETE FROM outbox WHERE helios_id = ANY($1)")
            .await
            .map_err(unavailable)?;
        c.execute(&delete, &[&helios_ids])
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn park_outbox(
        &self,
        parked: &[(String, String)],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(unavailable)?;
        for (id, reason) in parked {
            tx.execute(
                "INSERT INTO outbox_parked (helios_id, seq, parked_at, reason)
                 SELECT helios_id, seq, $2, $3 FROM outbox WHERE helios_id = $1
                 ON CONFLICT (helios_id) DO NOTHING",
                &[id, &at, reason],
            )
            .await
            .map_err(unavailable)?;
            tx.execute("DELETE FROM outbox WHERE helios_id = $1", &[id])
                .await
                .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)
    }

    async fn parked_outbox(&self, limit: usize) -> Result<Vec<(String, String)>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT helios_id, reason FROM outbox_parked ORDER BY seq LIMIT $1",
                &[&(limit as i64)],
            )
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(unavailable)?,
                    r.try_get(1).map_err(unavailable)?,
                ))
            })
            .collect()
    }

    async fn outbox_backlog(&self) -> Result<u64, StoreError> {
        let c = self.client().await?;
        let row = c
            .query_one("SELECT count(*) FROM outbox", &[])
            .await
            .map_err(unavailable)?;
        Ok(row.try_get::<_, i64>(0).map_err(unavailable)? as u64)
    }
}

#[async_trait]
impl SchemaRegistry for PgStore {
    async fn schema_versions(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Vec<SchemaVersion>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT version, id, schema, registered_at FROM schema_versions
                 WHERE source = $1 AND type = $2 ORDER BY version",
                &[&source, &event_type],
            )
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get(1).map_err(unavailable)?;
                let Json(schema) = r
                    .try_get::<_, Json<serde_json::Value>>(2)
                    .map_err(|e| StoreError::Corrupt(format!("schema {id}: {e}")))?;
                Ok(SchemaVersion {
                    source: source.to_string(),
                    event_type: event_type.to_string(),
                    version: r.try_get::<_, i32>(0).map_err(unavailable)? as u32,
                    schema,
                    id,
                    registered_at: r.try_get(3).map_err(unavailable)?,
                })
            })
            .collect()
    }

    async fn add_schema_version(&self, v: &SchemaVersion) -> Result<Recorded, StoreError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "INSERT INTO schema_versions (source, type, version, id, schema, registered_at)
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[
                    &v.source,
                    &v.event_type,
                    &(v.version as i32),
                    &v.id,
                    &Json(&v.schema),
                    &v.registered_at,
                ],
            )
            .await
            .map_err(unavailable)?;
        Ok(if n == 1 {
            Recorded::Accepted
        } else {
            Recorded::Duplicate
        })
    }

    async fn subjects(&self) -> Result<Vec<Subject>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "WITH names AS (SELECT source, type FROM schema_versions
                                UNION SELECT source, type FROM schema_subjects)
                 SELECT n.source, n.type, l.latest, s.mode, s.policy, s.updated_at,
                        COALESCE(x.count, 0)
                 FROM names n
                 CROSS JOIN LATERAL (SELECT COALESCE(MAX(version), 0) AS latest FROM schema_versions v
                                      WHERE v.source = n.source AND v.type = n.type) l
                 LEFT JOIN schema_subjects s ON s.source = n.source AND s.type = n.type
                 LEFT JOIN schema_violations x ON x.source = n.source AND x.type = n.type AND x.version = l.latest
                 ORDER BY n.source, n.type",
                &[],
            )
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                let mode: Option<String> = r.try_get(3).map_err(unavailable)?;
                let policy: Option<String> = r.try_get(4).map_err(unavailable)?;
                let at: Option<DateTime<Utc>> = r.try_get(5).map_err(unavailable)?;
                Ok(Subject {
                    source: r.try_get(0).map_err(unavailable)?,
                    event_type: r.try_get(1).map_err(unavailable)?,
                    latest: r.try_get::<_, i32>(2).map_err(unavailable)? as u32,
                    latest_violations: r.try_get::<_, i64>(6).map_err(unavailable)? as u64,
                    settings: match (mode, policy, at) {
                        (Some(mode), Some(policy), Some(updated_at)) => Some(SubjectSettings {
                            mode,
                            policy,
                            updated_at,
                        }),
                        _ => None,
                    },
                })
            })
            .collect()
    }

    async fn schema_violations(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Vec<(u32, u64)>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT version, count FROM schema_violations WHERE source = $1 AND type = $2 ORDER BY version",
                &[&source, &event_type],
            )
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<_, i32>(0).map_err(unavailable)? as u32,
                    r.try_get::<_, i64>(1).map_err(unavailable)? as u64,
                ))
            })
            .collect()
    }

    async fn subject_settings(
        &self,
        source: &str,
        event_type: &str,
    ) -> Result<Option<SubjectSettings>, StoreError> {
        let c = self.client().await?;
        c.query_opt(
            "SELECT mode, policy, updated_at FROM schema_subjects WHERE source = $1 AND type = $2",
            &[&source, &event_type],
        )
        .await
        .map_err(unavailable)?
        .map(|r| {
            Ok(SubjectSettings {
                mode: r.try_get(0).map_err(unavailable)?,
                policy: r.try_get(1).map_err(unavailable)?,
                updated_at: r.try_get(2).map_err(unavailable)?,
            })
        })
        .transpose()
    }

    async fn set_subject_settings(
        &self,
        source: &str,
        event_type: &str,
        s: &SubjectSettings,
    ) -> Result<(), StoreError> {
        let c = self.client().await?;
        c.execute(
            "INSERT INTO schema_subjects (source, type, mode, policy, updated_at) VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (source, type) DO UPDATE SET mode = excluded.mode, policy = excluded.policy,
                                                     updated_at = excluded.updated_at",
            &[&source, &event_type, &s.mode, &s.policy, &s.updated_at],
        )
        .await
        .map_err(unavailable)?;
        Ok(())
    }
}

const HELD_COLUMNS: &str =
    "helios_id, seq, source, type, held_at, reason, status, resolved_at, resolved_by";

fn to_held(r: &Row) -> Result<Held, StoreError> {
    let helios_id: String = r.try_get(0).map_err(unavailable)?;
    let corrupt = |e: String| StoreError::Corrupt(format!("held fact {helios_id}: {e}"));
    let Json(reason) = r
        .try_get::<_, Json<serde_json::Value>>(5)
        .map_err(|e| corrupt(e.to_string()))?;
    let status: String = r.try_get(6).map_err(unavailable)?;
    Ok(Held {
        seq: r.try_get(1).map_err(unavailable)?,
        source: r.try_get(2).map_err(unavailable)?,
        event_type: r.try_get(3).map_err(unavailable)?,
        held_at: r.try_get(4).map_err(unavailable)?,
        reason,
        status: HoldStatus::parse(&status).ok_or_else(|| corrupt(format!("status {status}")))?,
        resolved_at: r.try_get(7).map_err(unavailable)?,
        resolved_by: r.try_get(8).map_err(unavailable)?,
        helios_id,
    })
}

#[async_trait]
impl Quarantine for PgStore {
    async fn held(
        &self,
        status: Option<HoldStatus>,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<Held>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {HELD_COLUMNS} FROM quarantine
                     WHERE ($1::text IS NULL OR status = $1) AND seq > $2 ORDER BY seq LIMIT $3"
                ),
                &[
                    &status.map(HoldStatus::as_str),
                    &after.unwrap_or(0),
                    &(limit as i64),
                ],
            )
            .await
            .map_err(unavailable)?;
        rows.iter().map(to_held).collect()
    }

    async fn get_held(&self, helios_id: &str) -> Result<Option<Held>, StoreError> {
        let c = self.client().await?;
        c.query_opt(
            &format!("SELECT {HELD_COLUMNS} FROM quarantine WHERE helios_id = $1"),
            &[&helios_id],
        )
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(to_held)
        .transpose()
    }

    async fn resolve_held(
        &self,
        helios_id: &str,
        to: HoldStatus,
        by: &str,
        at: DateTime<Utc>,
    ) -> Result<Option<Held>, StoreError> {
        if to == HoldStatus::Held {
            return Err(StoreError::Invalid(
                "a held fact is released or dropped".into(),
            ));
        }
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(unavailable)?;
        let row = tx
            .query_opt(
                &format!(
                    "UPDATE quarantine SET status = $2, resolved_at = $3, resolved_by = $4
                     WHERE helios_id = $1 AND status = 'held' RETURNING {HELD_COLUMNS}"
                ),
                &[&helios_id, &to.as_str(), &at, &by],
            )
            .await
            .map_err(unavailable)?;
        let Some(row) = row else {
            return Ok(None);
        };
        let held = to_held(&row)?;
        if to == HoldStatus::Released {
            tx.execute(
                "INSERT INTO outbox (helios_id, seq, created_at) VALUES ($1, $2, $3)",
                &[&helios_id, &held.seq, &at],
            )
            .await
            .map_err(unavailable)?;
        }
        tx.commit().await.map_err(unavailable)?;
        Ok(Some(held))
    }
}

#[async_trait]
impl ApiKeys for PgStore {
    async fn create_api_key(&self, k: &ApiKey) -> Result<(), StoreError> {
        let c = self.client().await?;
        let rate = k.rate_per_second.map(|r| r as i32);
        c.execute(
            &format!(
                "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            &[
                &k.id,
                &k.name,
                &k.role.as_str(),
                &k.hash,
                &rate,
                &k.created_at,
                &k.revoked_at,
                &crate::key_sources_text(k.sources.as_deref()),
            ],
        )
        .await
        .map_err(|e| match e.code() {
            Some(code) if *code == tokio_postgres::error::SqlState::UNIQUE_VIOLATION => {
                StoreError::Invalid("an API key with this id or secret already exists".into())
            }
            _ => unavailable(e),
        })?;
        Ok(())
    }

    async fn find_api_key(&self, hash: &str) -> Result<Option<ApiKey>, StoreError> {
        let c = self.client().await?;
        let select = c
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM api_keys WHERE hash = $1"
            ))
            .await
            .map_err(unavailable)?;
        c.query_opt(&select, &[&hash])
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(to_key)
            .transpose()
    }

    async fn list_api_keys(&self) -> Result<Vec<ApiKey>, StoreError> {
        let c = self.client().await?;
        let rows = c
            .query(
                &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY created_at, id"),
                &[],
            )
            .await
            .map_err(unavailable)?;
        rows.iter().map(to_key).collect()
    }

    async fn revoke_api_key(&self, id: &str, at: DateTime<Utc>) -> Result<bool, StoreError> {
        let c = self.client().await?;
        let n = c
            .execute(
                "UPDATE api_keys SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                &[&id, &at],
            )
            .await
            .map_err(unavailable)?;
        Ok(n > 0)
    }
}

#[async_trait]
impl Decisions for PgStore {
    /// Inserts the decision in a group with those recorded at the same time by other tasks
    /// (the `decide` batches, which run their messages at once): one statement and one
    /// commit for the group instead of one each. The first call finds no group under way and
    /// starts a task that inserts groups until none is pending; the calls meanwhile wait for
    /// their answer. The task is spawned, so a caller that stops waiting stops no insert.
    async fn record_decision(&self, d: &NewDecision) -> Result<Recorded, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let start = {
            let mut g = self.decisions.lock().unwrap_or_else(|e| e.into_inner());
            g.pending.push((d.clone(), tx));
            !std::mem::replace(&mut g.inserting, true)
        };
        if start {
            let store = self.clone();
            tokio::spawn(async move { store.insert_decision_groups().await });
        }
        rx.await.map_err(|_| {
            StoreError::Unavailable("the decision's insert was abandoned".to_string())
        })?
    }

    async fn get_decision(&self, id: &str) -> Result<Option<StoredDecision>, StoreError> {
        let c = self.client().await?;
        c.query_opt(
            &format!("SELECT {DECISION_COLUMNS} FROM decisions WHERE id = $1"),
            &[&id],
        )
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(to_decision)
        .transpose()
    }

    async fn list_decisions(&self, q: &DecisionQuery) -> Result<DecisionPage, StoreError> {
        let c = self.client().await?;
        let (past, order, after) = crate::seq_order(q.newest_first, q.after);
        let limit = q.limit as i64 + 1;
        let rule = q.rule.as_ref().map(|r| format!("%,{r},%"));
        let rows = c
            .query(
                &format!(
                    "SELECT {DECISION_COLUMNS} FROM decisions
                     WHERE {past} $1 AND ($2::TEXT IS NULL OR subject = $2) AND ($3::TEXT IS NULL OR rules LIKE $3)
                       AND ($4::TEXT IS NULL OR severity = $4)
                       AND ($5::TIMESTAMPTZ IS NULL OR decided_at >= $5) AND ($6::TIMESTAMPTZ IS NULL OR decided_at < $6)
                       AND ($8::TEXT IS NULL OR event_id = $8)
                     {order} LIMIT $7"
                ),
                &[&after, &q.subject, &rule, &q.severity, &q.since, &q.until, &limit, &q.event_id],
            )
            .await
            .map_err(unavailable)?;
        let mut decisions = rows
            .iter()
            .map(to_decision)
            .collect::<Result<Vec<_>, _>>()?;
        let next = crate::cut_page(&mut decisions, q.limit, |d| d.seq);
        Ok(DecisionPage { decisions, next })
    }
}

#[async_trait]
impl Outcomes for PgStore {
    async fn record_outcome(&self, o: &Outcome) -> Result<Recorded, StoreError> {
        let c = self.client().await?;
        let insert = c
            .prepare_cached(
                "INSERT INTO outcomes (decision_id, execution, kind, recorded_at, body)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .await
            .map_err(unavailable)?;
        let n = c
            .execute(
                &insert,
                &[
                    &o.decision_id,
                    &o.execution,
                    &o.kind,
                    &o.recorded_at,
                    &Json(&o.body),
                ],
            )
            .await
            .map_err(unavailable)?;
        Ok(if n == 1 {
            Recorded::Accepted
        } else {
            Recorded::Duplicate
        })
    }

    async fn outcomes_of(&self, decision_ids: &[String]) -> Result<Vec<Outcome>, StoreError> {
        if decision_ids.is_empty() {
            return Ok(Vec::new());
        }
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT decision_id, execution, kind, recorded_at, body, seq FROM outcomes
                 WHERE decision_id = ANY($1) ORDER BY seq",
                &[&decision_ids],
            )
            .await
            .map_err(unavailable)?;
        rows.iter().map(|r| Ok(read_outcome(r)?.1)).collect()
    }

    async fn outcomes_after(
        &self,
        after: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Outcome)>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let c = self.client().await?;
        let rows = c
            .query(
                "SELECT decision_id, execution, kind, recorded_at, body, seq FROM outcomes
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
                &[&after, &limit],
            )
            .await
            .map_err(unavailable)?;
        rows.iter().map(read_outcome).collect()
    }
}

#[async_trait]
impl Stats for PgStore {
    async fn stats(&self, q: &StatsQuery) -> Result<Vec<StatRow>, StoreError> {
        let c = self.client().await?;
        let b = q.bucket_seconds.max(1);
        let rows = c
            .query(
                "SELECT floor(extract(epoch FROM time) / $3::bigint)::bigint * $3::bigint AS bucket,
                        'source', source, count(*)
                   FROM facts WHERE time >= $1 AND time < $2 GROUP BY 1, 3
                 UNION ALL
                 SELECT floor(extract(epoch FROM time) / $3::bigint)::bigint * $3::bigint, 'type', type, count(*)
                   FROM facts WHERE time >= $1 AND time < $2 GROUP BY 1, 3
                 UNION ALL
                 SELECT floor(extract(epoch FROM decided_at) / $3::bigint)::bigint * $3::bigint,
                        'severity', coalesce(severity, ''), count(*)
                   FROM decisions WHERE decided_at >= $1 AND decided_at < $2 GROUP BY 1, 3
                 UNION ALL
                 SELECT floor(extract(epoch FROM d.decided_at) / $3::bigint)::bigint * $3::bigint, 'rule', r, count(*)
                   FROM decisions d,
                        unnest(string_to_array(trim(both ',' FROM d.rules), ',')) r
                  WHERE d.decided_at >= $1 AND d.decided_at < $2 GROUP BY 1, 3
                 UNION ALL
                 SELECT floor(extract(epoch FROM d.decided_at) / $3::bigint)::bigint * $3::bigint, 'rule', '', count(*)
                   FROM decisions d
                  WHERE d.decided_at >= $1 AND d.decided_at < $2 AND d.rules = ',,' GROUP BY 1, 3
                 UNION ALL
                 SELECT floor(extract(epoch FROM d.decided_at) / $3::bigint)::bigint * $3::bigint,
                        'near_miss', t ->> 'rule', count(*)
                   FROM decisions d,
                        json_array_elements(CASE WHEN json_typeof(d.body -> 'trace') = 'array'
                                                 THEN d.body -> 'trace' ELSE '[]'::json END) t
                  WHERE d.decided_at >= $1 AND d.decided_at < $2
                    AND json_typeof(t) = 'object' AND t ->> 'outcome' = 'near_miss'
                  GROUP BY 1, 3
                 UNION ALL
                 SELECT floor(extract(epoch FROM recorded_at) / $3::bigint)::bigint * $3::bigint, 'outcome',
                        CASE WHEN kind = 'outcome' AND (body ->> 'escalated') IS NOT NULL
                             THEN 'escalated' ELSE kind END,
                        count(*)
                   FROM outcomes WHERE recorded_at >= $1 AND recorded_at < $2 GROUP BY 1, 3
                 ORDER BY 1, 2, 3",
                &[&q.since, &q.until, &b],
            )
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok(StatRow {
                    bucket: r.try_get(0).map_err(unavailable)?,
                    series: r.try_get(1).map_err(unavailable)?,
                    key: r.try_get(2).map_err(unavailable)?,
                    count: r.try_get(3).map_err(unavailable)?,
                })
            })
            .collect()
    }

    async fn near_misses(&self, q: &NearMissQuery) -> Result<Vec<NearMissRow>, StoreError> {
        let c = self.client().await?;
        let examples = i64::try_from(q.examples).unwrap_or(i64::MAX);
        // The check of a near miss that did not hold (there is one), grouped by what it asked
        // and what it found; `json` keeps `wanted` and `found` as the text written.
        let rows = c
            .query(
                "WITH nm AS (
                   SELECT d.id AS decision, d.event_id AS event, d.decided_at AS at,
                          t ->> 'rule' AS rule, t ->> 'because' AS because,
                          k ->> 'kind' AS kind, k ->> 'field' AS field, k ->> 'op' AS op,
                          (k -> 'wanted')::text AS wanted, (k -> 'found')::text AS found
                     FROM decisions d,
                          json_array_elements(CASE WHEN json_typeof(d.body -> 'trace') = 'array'
                                                   THEN d.body -> 'trace' ELSE '[]'::json END) t,
                          json_array_elements(CASE WHEN json_typeof(t) = 'object'
                                                        AND json_typeof(t -> 'checks') = 'array'
                                                   THEN t -> 'checks' ELSE '[]'::json END) k
                    WHERE d.decided_at >= $1 AND d.decided_at < $2
                      AND t ->> 'outcome' = 'near_miss'
                      AND ($3::text IS NULL OR t ->> 'rule' = $3::text)
                      AND json_typeof(k) = 'object' AND json_typeof(k -> 'held') = 'boolean'
                      AND k ->> 'held' = 'false'
                 ), ranked AS (
                   SELECT *, row_number() OVER (
                            PARTITION BY rule, kind, field, op, wanted, found
                            ORDER BY at DESC, decision) AS n
                     FROM nm
                 )
                 SELECT rule, kind, field, op, wanted, found, count(*), min(because),
                        string_agg(CASE WHEN n <= $4::bigint THEN decision || ' ' || event END, ',')
                   FROM ranked
                  GROUP BY rule, kind, field, op, wanted, found
                  ORDER BY 1, 7 DESC, 2, 3, 5, 6",
                &[&q.since, &q.until, &q.rule, &examples],
            )
            .await
            .map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                crate::NearMissText {
                    rule: r.try_get(0).map_err(unavailable)?,
                    kind: r.try_get(1).map_err(unavailable)?,
                    field: r.try_get(2).map_err(unavailable)?,
                    op: r.try_get(3).map_err(unavailable)?,
                    wanted: r.try_get(4).map_err(unavailable)?,
                    found: r.try_get(5).map_err(unavailable)?,
                    count: r.try_get(6).map_err(unavailable)?,
                    because: r.try_get(7).map_err(unavailable)?,
                    examples: r.try_get(8).map_err(unavailable)?,
                }
                .into_row()
            })
            .collect()
    }

    async fn slo_counts(&self, q: &SloQuery) -> Result<Vec<SloCounts>, StoreError> {
        let c = self.client().await?;
        let longest = q.windows.iter().copied().max().unwrap_or(0);
        let since = q.until - chrono::Duration::seconds(longest);
        // One pass over the longest window, counted per slot of SLO_SLOT_SECONDS back from
        // `until` ($2).
        let slot = SLO_SLOT_SECONDS;
        let rows = |rows: Vec<tokio_postgres::Row>| -> Result<Vec<(i64, i64, i64)>, StoreError> {
            rows.iter()
                .map(|r| {
                    Ok((
                        r.try_get(0).map_err(unavailable)?,
                        r.try_get(1).map_err(unavailable)?,
                        r.try_get(2).map_err(unavailable)?,
                    ))
                })
                .collect()
        };
        let decided = c
            .query(
                "SELECT floor(extract(epoch FROM $2 - d.decided_at) / $4::bigint)::bigint,
                        count(*),
                        count(*) FILTER (WHERE extract(epoch FROM d.decided_at - f.received_at)::float8 <= $3::float8)
                   FROM decisions d JOIN facts f ON f.helios_id = d.event_id
                  WHERE d.decided_at >= $1 AND d.decided_at < $2
                    AND NOT EXISTS (SELECT 1 FROM decisions e
                                     WHERE e.event_id = d.event_id AND e.decided_at < d.decided_at)
                  GROUP BY 1",
                &[&since, &q.until, &q.decide_within, &slot],
            )
            .await
            .map_err(unavailable)?;
        let notified = c
            .query(
                "SELECT floor(extract(epoch FROM $2 - at) / $4::bigint)::bigint,
                        count(*),
                        count(*) FILTER (WHERE first IS NOT NULL
                                           AND extract(epoch FROM first - at)::float8 <= $3::float8)
                   FROM (SELECT d.decided_at AS at,
                                (SELECT min(o.recorded_at) FROM outcomes o WHERE o.decision_id = d.id) AS first
                           FROM decisions d
                          WHERE d.decided_at >= $1 AND d.decided_at < $2
                            AND json_array_length(CASE WHEN json_typeof(d.body -> 'actions') = 'array'
                                                       THEN d.body -> 'actions' ELSE '[]'::json END) > 0) x
                  WHERE first IS NOT NULL OR extract(epoch FROM $2 - at)::float8 > $3::float8
                  GROUP BY 1",
                &[&since, &q.until, &q.notify_within, &slot],
            )
            .await
            .map_err(unavailable)?;
        let reconciled = c
            .query(
                "SELECT floor(extract(epoch FROM $2 - f.time) / $3::bigint)::bigint,
                        count(*), count(*) FILTER (WHERE f.type = 'helios.reconcile.matched')
                   FROM facts f
                  WHERE f.time >= $1 AND f.time < $2 AND f.source = 'helios/expect'
                    AND (type IN ('helios.reconcile.matched', 'helios.reconcile.mismatched')
                         OR (type = 'helios.expectation.missed'
                             AND event -> 'data' ->> 'kind' = 'reconcile'))
                  GROUP BY 1",
                &[&since, &q.until, &slot],
            )
            .await
            .map_err(unavailable)?;
        Ok(crate::slo_counts_of(
            &q.windows,
            &rows(decided)?,
            &rows(notified)?,
            &rows(reconciled)?,
        ))
    }
}

#[async_trait]
impl crate::RowAccess for PgStore {
    async fn grant_dml(&self, role: &str, login: &Login) -> Result<(), StoreError> {
        self.grant_dml_to(role, login).await
    }
}

/// An outcome row (`decision_id, execution, kind, recorded_at, body, seq`), read.
fn read_outcome(r: &tokio_postgres::Row) -> Result<(i64, Outcome), StoreError> {
    let decision_id: String = r.try_get(0).map_err(unavailable)?;
    let Json(body) = r
        .try_get::<_, Json<serde_json::Value>>(4)
        .map_err(|e| StoreError::Corrupt(format!("outcome of {decision_id}: {e}")))?;
    Ok((
        r.try_get(5).map_err(unavailable)?,
        Outcome {
            execution: r.try_get(1).map_err(unavailable)?,
            kind: r.try_get(2).map_err(unavailable)?,
            recorded_at: r.try_get(3).map_err(unavailable)?,
            body,
            decision_id,
        },
    ))
}

#[cfg(test)]
mod password_tests {
    use super::*;

    #[test]
    fn the_url_encodes_the_user_and_always_requires_tls() {
        let url = tls_url("app user@x", "db.internal", 5432, "helios");
        assert_eq!(
            url,
            "postgres://app%20user%40x@db.internal:5432/helios?sslmode=require"
        );
        let parsed: tokio_postgres::Config = url.parse().unwrap();
        assert_eq!(parsed.get_user(), Some("app user@x"));
        assert_eq!(parsed.get_password(), None);
        assert_eq!(
            parsed.get_ssl_mode(),
            tokio_postgres::config::SslMode::Require
        );
    }
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    struct Counting(Arc<AtomicUsize>);

    #[async_trait]
    impl PasswordSource for Counting {
        async fn password(&self) -> Result<String, String> {
            let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(format!("password-{n}"))
        }
    }

    /// A made password is kept for new connections until it is stale or rejected; a
    /// rejected one is made afresh (a rotated secret, an expired token), so no process
    /// needs to end for it.
    #[tokio::test]
    async fn a_rejected_password_is_made_afresh_for_the_next_connection() {
        let made = Arc::new(AtomicUsize::new(0));
        let p = RotatingPassword {
            source: Arc::new(Counting(made.clone())),
            current: std::sync::Mutex::new(None),
        };
        p.refresh().await.unwrap();
        p.refresh().await.unwrap();
        assert_eq!(p.current().as_deref(), Some("password-1"));
        assert_eq!(made.load(Ordering::SeqCst), 1);
        p.forget();
        p.refresh().await.unwrap();
        assert_eq!(p.current().as_deref(), Some("password-2"));
    }
}
