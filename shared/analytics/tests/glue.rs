//! The Glue tables terraform declares (terraform/modules/analytics/tables.json) are the
//! archive's files: the same columns, in the same order, of the types Athena reads the
//! Parquet types as, and the same partitions; the facts' `family` projection lists every
//! family an event can have.

use datafusion::arrow::datatypes::{DataType, TimeUnit};
use serde_json::Value;

fn glue_type(t: &DataType) -> &'static str {
    match t {
        DataType::Int64 => "bigint",
        DataType::Int32 => "int",
        DataType::Float64 => "double",
        DataType::Boolean => "boolean",
        DataType::Utf8 => "string",
        DataType::Timestamp(TimeUnit::Microsecond, _) => "timestamp",
        other => panic!("the archive writes a {other:?}, which tables.json has no type for"),
    }
}

#[test]
fn the_glue_tables_are_the_archives_files() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../terraform/modules/analytics/tables.json"
    );
    let spec: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let schemas = [
        (
            "facts",
            helios_archive::facts_schema(),
            vec!["day", "family"],
        ),
        ("decisions", helios_archive::decisions_schema(), vec!["day"]),
        ("fired", helios_archive::fired_schema(), vec!["day"]),
        (
            "near_misses",
            helios_archive::near_misses_schema(),
            vec!["day"],
        ),
        ("outcomes", helios_archive::outcomes_schema(), vec!["day"]),
    ];
    let tables = spec["tables"].as_object().unwrap();
    assert_eq!(
        tables.keys().collect::<Vec<_>>().len(),
        schemas.len(),
        "{:?}",
        tables.keys()
    );
    for (name, schema, partitions) in schemas {
        let t = &tables[name];
        let declared: Vec<(String, String)> = t["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["name"].as_str().unwrap().to_string(),
                    c["type"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let written: Vec<(String, String)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().clone(), glue_type(f.data_type()).to_string()))
            .collect();
        assert_eq!(
            declared, written,
            "{name}: tables.json (left), the files (right)"
        );
        assert_eq!(t["partitions"], serde_json::json!(partitions), "{name}");
        // Each table is a folder of the archive, and the engine of `helios analytics` opens it.
        assert!(helios_archive::TABLES.contains(&name), "{name}");
    }
    assert_eq!(
        spec["families"],
        serde_json::json!(helios_events::Event::FAMILIES)
    );
}
