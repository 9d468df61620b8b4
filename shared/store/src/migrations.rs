//! The migration files, embedded in the binary so that the tool that runs Helios is the tool
//! that migrates it.

/// One versioned migration.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

#[cfg(feature = "sqlite")]
pub(crate) const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_facts_outbox_keys.sql",
        sql: include_str!("../migrations/sqlite/0001_facts_outbox_keys.sql"),
    },
    Migration {
        version: 2,
        name: "0002_decisions.sql",
        sql: include_str!("../migrations/sqlite/0002_decisions.sql"),
    },
    Migration {
        version: 3,
        name: "0003_outcomes.sql",
        sql: include_str!("../migrations/sqlite/0003_outcomes.sql"),
    },
    Migration {
        version: 4,
        name: "0004_outbox_parked.sql",
        sql: include_str!("../migrations/sqlite/0004_outbox_parked.sql"),
    },
    Migration {
        version: 5,
        name: "0005_api_key_sources.sql",
        sql: include_str!("../migrations/sqlite/0005_api_key_sources.sql"),
    },
    Migration {
        version: 6,
        name: "0006_facts_unique_by_helios_id_only.sql",
        sql: include_str!("../migrations/sqlite/0006_facts_unique_by_helios_id_only.sql"),
    },
    Migration {
        version: 7,
        name: "0007_schema_registry.sql",
        sql: include_str!("../migrations/sqlite/0007_schema_registry.sql"),
    },
];

pub(crate) const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_facts_outbox_keys.sql",
        sql: include_str!("../migrations/postgres/0001_facts_outbox_keys.sql"),
    },
    Migration {
        version: 2,
        name: "0002_decisions.sql",
        sql: include_str!("../migrations/postgres/0002_decisions.sql"),
    },
    Migration {
        version: 3,
        name: "0003_outcomes.sql",
        sql: include_str!("../migrations/postgres/0003_outcomes.sql"),
    },
    Migration {
        version: 4,
        name: "0004_outbox_parked.sql",
        sql: include_str!("../migrations/postgres/0004_outbox_parked.sql"),
    },
    Migration {
        version: 5,
        name: "0005_api_key_sources.sql",
        sql: include_str!("../migrations/postgres/0005_api_key_sources.sql"),
    },
    Migration {
        version: 6,
        name: "0006_facts_unique_by_helios_id_only.sql",
        sql: include_str!("../migrations/postgres/0006_facts_unique_by_helios_id_only.sql"),
    },
    Migration {
        version: 7,
        name: "0007_schema_registry.sql",
        sql: include_str!("../migrations/postgres/0007_schema_registry.sql"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &str) -> Vec<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("migrations")
            .join(dir);
        let mut names: Vec<String> = std::fs::read_dir(path)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn every_migration_file_is_embedded_in_order() {
        for (dir, list) in [("sqlite", SQLITE), ("postgres", POSTGRES)] {
            let embedded: Vec<String> = list.iter().map(|m| m.name.to_string()).collect();
            assert_eq!(
                files(dir),
                embedded,
                "migrations/{dir} and the embedded list differ"
            );
            for (i, m) in list.iter().enumerate() {
                assert_eq!(
                    m.version,
                    i as i64 + 1,
                    "{dir}/{} is out of sequence",
                    m.name
                );
                assert!(m.name.starts_with(&format!("{:04}_", m.version)));
            }
        }
    }
}
