//! Events flattened into leaf values, each with its dotted path and the array elements it
//! sits in, as Event Ruler sees them.
//!
//! A leaf is a string, number, boolean or null. Objects and arrays are not leaves: an empty
//! array or object contributes nothing. A value inside arrays carries, for each enclosing
//! array, the array's id and the element's index, so that fields matched together can be
//! required to come from the same element ("array consistency").

use serde_json::Value;

/// One leaf of a flattened event.
#[derive(Clone, Debug, PartialEq)]
pub struct Leaf<'a> {
    pub path: String,
    pub value: &'a Value,
    /// (array id, element index) for every array between the root and this leaf.
    pub membership: Vec<(u32, u32)>,
}

/// Whether two leaves can have been chosen from the same elements of every array they share.
pub fn consistent(a: &[(u32, u32)], b: &[(u32, u32)]) -> bool {
    a.iter()
        .all(|(id, i)| b.iter().all(|(id2, j)| id != id2 || i == j))
}

/// Flattens an event into its leaves, in document order.
pub fn flatten(event: &Value) -> Vec<Leaf<'_>> {
    let mut out = Vec::new();
    let mut next_array = 0u32;
    walk(
        event,
        String::new(),
        &mut Vec::new(),
        &mut next_array,
        &mut out,
    );
    out
}

fn walk<'a>(
    v: &'a Value,
    path: String,
    membership: &mut Vec<(u32, u32)>,
    next_array: &mut u32,
    out: &mut Vec<Leaf<'a>>,
) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                walk(child, p, membership, next_array, out);
            }
        }
        Value::Array(items) => {
            let id = *next_array;
            *next_array += 1;
            for (i, child) in items.iter().enumerate() {
                membership.push((id, i as u32));
                walk(child, path.clone(), membership, next_array, out);
                membership.pop();
            }
        }
        leaf => {
            if !path.is_empty() {
                out.push(Leaf {
                    path,
                    value: leaf,
                    membership: membership.clone(),
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn leaves_have_dotted_paths_and_array_membership() {
        let e = json!({"a": {"b": 1}, "c": [{"d": "x"}, {"d": "y", "e": null}], "f": [], "g": {}});
        let leaves = flatten(&e);
        let paths: Vec<_> = leaves.iter().map(|l| l.path.as_str()).collect();
        assert_eq!(
            paths,
            ["a.b", "c.d", "c.d", "c.e"],
            "empty arrays and objects are not leaves"
        );
        assert_eq!(leaves[1].membership, [(0, 0)]);
        assert_eq!(leaves[2].membership, [(0, 1)]);
        assert!(consistent(&leaves[2].membership, &leaves[3].membership));
        assert!(!consistent(&leaves[1].membership, &leaves[3].membership));
        assert!(consistent(&leaves[0].membership, &leaves[1].membership));
    }
}
