//! Patterns compiled for speed: the cost of matching an event grows with the event and the
//! patterns it comes close to, not with the number of patterns.
//!
//! Learning from Event Ruler and Quamina, which walk an automaton over an event's fields and
//! so never look at a pattern whose first fields did not match: here each sub-rule is
//! indexed by its *anchor*, the field whose values the fewest other sub-rules share (so
//! `{"source": ["github"], "data.login": ["dana"]}` is found through `data.login = dana`, not
//! through the thousands of patterns that also say `source = github`). Anchors are indexed by
//! dotted path and kind of test (exact values and IP addresses in hash maps keyed by the
//! value; prefixes and suffixes in hash maps probed only at the lengths some pattern uses;
//! case-insensitive tests by the lowercased value; wildcards with a leading literal by that
//! literal); tests that cannot be hashed (numeric ranges, CIDR blocks, anything-but) are
//! checked one by one, at their path only, and are anchors only when nothing better is.
//!
//! The event is flattened with subtrees that no pattern mentions skipped, and its leaves at
//! mentioned paths are kept. Each leaf at an anchored path yields the sub-rules whose anchor
//! it satisfies; only those (and sub-rules made only of `exists: false` fields) are then
//! checked field by field against the kept leaves, with the array-consistency search of the
//! reference matcher. With [`Anchors::Two`], sub-rules are indexed by their two most
//! selective fields, so that a sub-rule one field short of matching is still found: the
//! decision engine uses it to report near misses.

use std::net::IpAddr;

use rustc_hash::{FxHashMap, FxHashSet};
use serde_json::Value;

use crate::event::consistent;
use crate::pattern::{Matcher, Pattern};
use crate::reference::{scalar_matches, Scalar};
pub use crate::scan::JsonError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Entry {
    sub_rule: u32,
    field: u16,
}

#[derive(Default, Debug)]
struct PathIndex {
    exact_str: FxHashMap<String, Vec<Entry>>,
    exact_num: FxHashMap<u64, Vec<Entry>>,
    exact_true: Vec<Entry>,
    exact_false: Vec<Entry>,
    exact_null: Vec<Entry>,
    ip: FxHashMap<IpAddr, Vec<Entry>>,
    prefix: FxHashMap<String, Vec<Entry>>,
    prefix_lens: Vec<usize>,
    prefix_ic: FxHashMap<String, Vec<Entry>>,
    prefix_ic_lens: Vec<usize>,
    suffix: FxHashMap<String, Vec<Entry>>,
    suffix_lens: Vec<usize>,
    suffix_ic: FxHashMap<String, Vec<Entry>>,
    suffix_ic_lens: Vec<usize>,
    eq_ic: FxHashMap<String, Vec<Entry>>,
    any: Vec<Entry>,
    /// Wildcards that start with a literal, by that literal (probed like prefixes).
    wildcard_led: FxHashMap<String, Vec<(crate::pattern::Wildcard, Entry)>>,
    wildcard_led_lens: Vec<usize>,
    /// Wildcards that start with `*`.
    wildcard_star: Vec<(crate::pattern::Wildcard, Vec<Entry>)>,
    /// CIDR blocks by (IPv6?, prefix length, masked network), probed at the lengths used.
    cidr: FxHashMap<(bool, u8, u128), Vec<Entry>>,
    cidr_lens: Vec<(bool, u8)>,
    /// Numeric ranges sorted by lower bound (unbounded first), with the bounds alone so a
    /// value looks only at the ranges that start below it.
    numeric: Vec<(crate::pattern::Range, Vec<Entry>)>,
    numeric_lows: Vec<f64>,
    /// Anything-but, checked one by one.
    scan: Vec<(Matcher, Vec<Entry>)>,
    /// Whether any string test at this path needs the lowercased value.
    needs_lower: bool,
    /// Composite anchors that start with an exact string here: value → composite ids.
    composite: FxHashMap<String, Vec<u32>>,
}

/// The second half of a composite anchor: once a leaf met the first half, the event's
/// strings at `path` say which sub-rules it touched.
#[derive(Debug, Default)]
struct Composite {
    path: u32,
    by_value: FxHashMap<String, Vec<u32>>,
}

#[derive(Debug)]
struct FieldInfo {
    path: u32,
    /// Whether absence satisfies it (`exists: false`).
    absence: bool,
    /// Whether hits on it are indexed; other fields are checked against the kept leaves.
    anchored: bool,
    matchers: Vec<Matcher>,
}

#[derive(Debug)]
struct SubRuleInfo {
    pattern: u32,
    /// Its index among the sub-rules of its pattern.
    local: u32,
    fields: Vec<FieldInfo>,
    /// Anchored fields (the first 64), all of which a matching event hits.
    required: u64,
    /// Bit `path % 64` for each field that needs a value: a test that costs no memory
    /// access beyond this struct rejects most candidates whose paths the event lacks.
    need_bloom: u64,
}

/// How many fields of each sub-rule are indexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchors {
    /// The most selective field: fastest, for matching alone.
    One,
    /// The two most selective: a sub-rule one field short of matching is still touched, so
    /// [`CompiledPatterns::closeness`] finds every near miss.
    Two,
}

#[derive(Debug, Default)]
struct PathNode {
    children: FxHashMap<Box<str>, u32>,
    /// The path id when a pattern mentions this very path.
    pid: Option<u32>,
}

/// A set of patterns compiled for matching; patterns are numbered in the order given.
#[derive(Debug, Default)]
pub struct CompiledPatterns {
    path_ids: FxHashMap<String, u32>,
    indexes: Vec<PathIndex>,
    /// The indexed paths as a tree of key pieces, so that walking an event hashes each key
    /// once instead of the whole path; node 0 is the root (the empty path).
    nodes: Vec<PathNode>,
    sub_rules: Vec<SubRuleInfo>,
    composites: Vec<Composite>,
    /// (first path, first value, second path) → composite id, while compiling.
    composite_ids: FxHashMap<(u32, String, u32), u32>,
    /// Sub-rules every field of which may be satisfied by absence: always checked.
    absence_only: Vec<u32>,
    patterns: usize,
}

fn num_key(x: f64) -> u64 {
    // 0.0 and -0.0 are equal numbers.
    if x == 0.0 {
        0
    } else {
        x.to_bits()
    }
}

/// A sub-rule whose best field is shared by more sub-rules than this is anchored on two
/// exact strings instead, when it can be.
const COMPOSITE_ABOVE: u64 = 8;

/// The values of a field made only of exact strings.
fn exact_strings(f: &crate::pattern::Field) -> Option<Vec<&str>> {
    f.matchers
        .iter()
        .map(|m| match m {
            Matcher::ExactString(s) => Some(s.as_str()),
            _ => None,
        })
        .collect()
}

/// What a matcher is found by in an index: matchers with the same key are hit by the same
/// leaves. `None` for matchers checked one by one.
fn matcher_key(m: &Matcher) -> Option<String> {
    Some(match m {
        Matcher::ExactString(s) => format!("s{s}"),
        Matcher::ExactIp(ip) => format!("i{ip}"),
        Matcher::ExactNumber(n) => format!("n{}", num_key(*n)),
        Matcher::ExactBool(b) => format!("b{b}"),
        Matcher::ExactNull => "z".into(),
        Matcher::Prefix(p) => format!("p{p}"),
        Matcher::PrefixIgnoreCase(p) => format!("P{p}"),
        Matcher::Suffix(p) => format!("x{p}"),
        Matcher::SuffixIgnoreCase(p) => format!("X{p}"),
        Matcher::EqualsIgnoreCase(p) => format!("e{p}"),
        Matcher::Exists(true) => "E".into(),
        Matcher::Wildcard(w) => match w.pieces.first() {
            Some(crate::pattern::WildcardPiece::Literal(lead)) => format!("w{lead}"),
            _ => return None,
        },
        Matcher::Exists(false)
        | Matcher::Cidr(_)
        | Matcher::Numeric(_)
        | Matcher::AnythingBut(_) => return None,
    })
}

/// Adds `entry` under `key`, sharing the slot of an equal key: each distinct test is run
/// once per leaf, whatever the number of sub-rules that use it.
fn grouped<K: PartialEq + Clone>(list: &mut Vec<(K, Vec<Entry>)>, key: &K, entry: Entry) {
    match list.iter_mut().find(|(k, _)| k == key) {
        Some((_, entries)) => entries.push(entry),
        None => list.push((key.clone(), vec![entry])),
    }
}

/// An address masked to `prefix` bits, as (IPv6?, prefix, bits).
fn cidr_key(ip: &IpAddr, prefix: u8) -> (bool, u8, u128) {
    match ip {
        IpAddr::V4(a) => {
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            (false, prefix, u128::from(u32::from(*a) & mask))
        }
        IpAddr::V6(a) => {
            let mask = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            (true, prefix, u128::from(*a) & mask)
        }
    }
}

fn add_len<T: PartialEq>(lens: &mut Vec<T>, n: T) {
    if !lens.contains(&n) {
        lens.push(n);
    }
}

impl CompiledPatterns {
    pub fn new() -> CompiledPatterns {
        CompiledPatterns::default()
    }

    /// How many patterns are compiled.
    pub fn len(&self) -> usize {
        self.patterns
    }

    pub fn is_empty(&self) -> bool {
        self.patterns == 0
    }

    /// Compiles patterns, each indexed by its most selective field; the id of each is its
    /// position.
    pub fn compile<'a>(patterns: impl IntoIterator<Item = &'a Pattern>) -> CompiledPatterns {
        CompiledPatterns::compile_with(patterns, Anchors::One)
    }

    /// Compiles patterns with the given anchoring; the id of each is its position.
    pub fn compile_with<'a>(
        patterns: impl IntoIterator<Item = &'a Pattern>,
        anchors: Anchors,
    ) -> CompiledPatterns {
        CompiledPatterns::compile_tuned(patterns, anchors, COMPOSITE_ABOVE)
    }

    /// [`CompiledPatterns::compile_with`], anchoring on two exact strings every sub-rule
    /// whose best field more than `composite_above` sub-rules share: tests set it to 0 to
    /// exercise composite anchors on small pattern sets.
    #[doc(hidden)]
    pub fn compile_tuned<'a>(
        patterns: impl IntoIterator<Item = &'a Pattern>,
        anchors: Anchors,
        composite_above: u64,
    ) -> CompiledPatterns {
        let patterns: Vec<&Pattern> = patterns.into_iter().collect();
        // How many sub-rules share each hashable test, and each path's unhashable tests.
        let mut shared: FxHashMap<(String, String), u32> = FxHashMap::default();
        let mut unhashable: FxHashMap<String, u32> = FxHashMap::default();
        for p in &patterns {
            for sr in &p.sub_rules {
                let mut seen: FxHashSet<(&str, String)> = FxHashSet::default();
                for f in &sr.fields {
                    for m in &f.matchers {
                        match matcher_key(m) {
                            Some(k) => {
                                if seen.insert((f.path.as_str(), k.clone())) {
                                    *shared.entry((f.path.clone(), k)).or_default() += 1;
                                }
                            }
                            None => {
                                if seen.insert((f.path.as_str(), String::new())) {
                                    *unhashable.entry(f.path.clone()).or_default() += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        // A field that absence may satisfy can only be a second anchor: a sub-rule must be
        // found through a field every match hits.
        const ABSENCE: u64 = u64::MAX - 1;
        const NEVER: u64 = u64::MAX;
        let cost = |path: &str, f: &crate::pattern::Field| -> u64 {
            if f.allows_absence() {
                // Usable as a second anchor only through a test a value can pass.
                return if f.matchers.iter().any(|m| *m != Matcher::Exists(false)) {
                    ABSENCE
                } else {
                    NEVER
                };
            }
            f.matchers
                .iter()
                .map(|m| match matcher_key(m) {
                    Some(k) => u64::from(shared.get(&(path.to_string(), k)).copied().unwrap_or(1)),
                    // Checked one by one: dearer than a hash probe that finds as many.
                    None => 4 * u64::from(unhashable.get(path).copied().unwrap_or(1)),
                })
                .sum()
        };
        let mut c = CompiledPatterns::new();
        for p in patterns {
            let id = c.patterns as u32;
            c.patterns += 1;
            for (local, sr) in p.sub_rules.iter().enumerate() {
                let mut ranked: Vec<(u64, usize)> = sr
                    .fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (cost(&f.path, f), i))
                    .collect();
                ranked.sort_unstable();
                let n = match anchors {
                    Anchors::One => 1,
                    Anchors::Two => 2,
                };
                let needed = ranked.iter().filter(|(k, _)| *k < ABSENCE).count();
                let chosen: Vec<usize> = if needed == 0 {
                    Vec::new()
                } else if needed >= n {
                    ranked.iter().take(n).map(|(_, i)| *i).collect()
                } else {
                    // Fewer fields need a value than anchors are wanted: anchor every field a
                    // value can meet, so that whichever of them the event has finds the
                    // sub-rule.
                    ranked
                        .iter()
                        .filter(|(k, _)| *k != NEVER)
                        .map(|(_, i)| *i)
                        .collect()
                };
                // A sub-rule whose best field is shared by many others (say thousands of
                // patterns on one user, each with its own repository) is found through two
                // exact values at once instead, when it has two fields of exact strings.
                let composite = match (anchors, ranked.first()) {
                    (Anchors::One, Some((k, _))) if *k > composite_above && *k < ABSENCE => {
                        let exact: Vec<usize> = ranked
                            .iter()
                            .filter(|(k, i)| {
                                *k < ABSENCE && exact_strings(&sr.fields[*i]).is_some()
                            })
                            .map(|(_, i)| *i)
                            .take(2)
                            .collect();
                        match exact[..] {
                            [a, b] => {
                                let pairs = exact_strings(&sr.fields[a]).map_or(0, |v| v.len())
                                    * exact_strings(&sr.fields[b]).map_or(0, |v| v.len());
                                (pairs <= 16).then_some((a, b))
                            }
                            _ => None,
                        }
                    }
                    _ => None,
                };
                match composite {
                    Some((a, b)) => c.add_composite_sub_rule(id, local as u32, sr, a, b),
                    None => c.add_sub_rule(id, local as u32, sr, &chosen),
                }
            }
        }
        c
    }

    /// Adds a sub-rule found through the exact strings of fields `a` and `b` together; all
    /// of its fields are then checked against the kept leaves.
    fn add_composite_sub_rule(
        &mut self,
        pattern: u32,
        local: u32,
        sr: &crate::pattern::SubRule,
        a: usize,
        b: usize,
    ) {
        let sub_rule = self.sub_rules.len() as u32;
        self.push_sub_rule(pattern, local, sr, &[]);
        let (fa, fb) = (&sr.fields[a], &sr.fields[b]);
        let (pa, pb) = (self.path_id(&fa.path), self.path_id(&fb.path));
        for va in exact_strings(fa).unwrap_or_default() {
            let key = (pa, va.to_string(), pb);
            let id = match self.composite_ids.get(&key) {
                Some(&id) => id,
                None => {
                    let id = self.composites.len() as u32;
                    self.composites.push(Composite {
                        path: pb,
                        by_value: FxHashMap::default(),
                    });
                    self.composite_ids.insert(key, id);
                    self.indexes[pa as usize]
                        .composite
                        .entry(va.to_string())
                        .or_default()
                        .push(id);
                    id
                }
            };
            for vb in exact_strings(fb).unwrap_or_default() {
                self.composites[id as usize]
                    .by_value
                    .entry(vb.to_string())
                    .or_default()
                    .push(sub_rule);
            }
        }
    }

    fn add_sub_rule(
        &mut self,
        pattern: u32,
        local: u32,
        sr: &crate::pattern::SubRule,
        anchors: &[usize],
    ) {
        let sub_rule = self.sub_rules.len() as u32;
        for (fi, f) in sr.fields.iter().enumerate() {
            let path = self.path_id(&f.path);
            if !anchors.contains(&fi) {
                continue;
            }
            let entry = Entry {
                sub_rule,
                field: fi as u16,
            };
            let ix = &mut self.indexes[path as usize];
            for m in &f.matchers {
                match m {
                    Matcher::ExactString(s) => {
                        ix.exact_str.entry(s.clone()).or_default().push(entry)
                    }
                    Matcher::ExactIp(ip) => ix.ip.entry(*ip).or_default().push(entry),
                    Matcher::ExactNumber(n) => {
                        ix.exact_num.entry(num_key(*n)).or_default().push(entry)
                    }
                    Matcher::ExactBool(true) => ix.exact_true.push(entry),
                    Matcher::ExactBool(false) => ix.exact_false.push(entry),
                    Matcher::ExactNull => ix.exact_null.push(entry),
                    Matcher::Prefix(p) => {
                        add_len(&mut ix.prefix_lens, p.len());
                        ix.prefix.entry(p.clone()).or_default().push(entry)
                    }
                    Matcher::PrefixIgnoreCase(p) => {
                        ix.needs_lower = true;
                        add_len(&mut ix.prefix_ic_lens, p.len());
                        ix.prefix_ic.entry(p.clone()).or_default().push(entry)
                    }
                    Matcher::Suffix(p) => {
                        add_len(&mut ix.suffix_lens, p.len());
                        ix.suffix.entry(p.clone()).or_default().push(entry)
                    }
                    Matcher::SuffixIgnoreCase(p) => {
                        ix.needs_lower = true;
                        add_len(&mut ix.suffix_ic_lens, p.len());
                        ix.suffix_ic.entry(p.clone()).or_default().push(entry)
                    }
                    Matcher::EqualsIgnoreCase(p) => {
                        ix.needs_lower = true;
                        ix.eq_ic.entry(p.clone()).or_default().push(entry)
                    }
                    Matcher::Exists(true) => ix.any.push(entry),
                    Matcher::Exists(false) => {}
                    Matcher::Wildcard(w) => match w.pieces.first() {
                        Some(crate::pattern::WildcardPiece::Literal(lead)) => {
                            add_len(&mut ix.wildcard_led_lens, lead.len());
                            ix.wildcard_led
                                .entry(lead.clone())
                                .or_default()
                                .push((w.clone(), entry))
                        }
                        _ => grouped(&mut ix.wildcard_star, w, entry),
                    },
                    Matcher::Cidr(c) => {
                        let key = cidr_key(&c.network, c.prefix);
                        add_len(&mut ix.cidr_lens, (key.0, key.1));
                        ix.cidr.entry(key).or_default().push(entry)
                    }
                    Matcher::Numeric(r) => {
                        let low = r.low.map_or(f64::NEG_INFINITY, |(x, _)| x);
                        let at = ix.numeric_lows.partition_point(|l| *l <= low);
                        match ix.numeric.iter().position(|(x, _)| x == r) {
                            Some(i) => ix.numeric[i].1.push(entry),
                            None => {
                                ix.numeric.insert(at, (r.clone(), vec![entry]));
                                ix.numeric_lows.insert(at, low);
                            }
                        }
                    }
                    other => grouped(&mut ix.scan, other, entry),
                }
            }
        }
        if anchors.is_empty() {
            // Every field may be met by absence: nothing to index, always checked.
            self.absence_only.push(sub_rule);
        }
        self.push_sub_rule(pattern, local, sr, anchors);
    }

    fn push_sub_rule(
        &mut self,
        pattern: u32,
        local: u32,
        sr: &crate::pattern::SubRule,
        anchors: &[usize],
    ) {
        let fields: Vec<FieldInfo> = sr
            .fields
            .iter()
            .enumerate()
            .map(|(fi, f)| FieldInfo {
                path: self.path_id(&f.path),
                absence: f.allows_absence(),
                anchored: anchors.contains(&fi),
                matchers: f.matchers.clone(),
            })
            .collect();
        let required = anchors
            .iter()
            .filter(|i| **i < 64 && !sr.fields[**i].allows_absence())
            .fold(0u64, |m, i| m | (1 << i));
        let need_bloom = fields
            .iter()
            .filter(|f| !f.absence)
            .fold(0u64, |b, f| b | (1 << (f.path % 64)));
        self.sub_rules.push(SubRuleInfo {
            pattern,
            local,
            fields,
            required,
            need_bloom,
        });
    }

    fn path_id(&mut self, path: &str) -> u32 {
        if let Some(id) = self.path_ids.get(path) {
            return *id;
        }
        let id = self.indexes.len() as u32;
        self.indexes.push(PathIndex::default());
        self.path_ids.insert(path.to_string(), id);
        if self.nodes.is_empty() {
            self.nodes.push(PathNode::default());
        }
        let mut node = 0u32;
        if !path.is_empty() {
            for piece in path.split('.') {
                node = match self.nodes[node as usize].children.get(piece) {
                    Some(&n) => n,
                    None => {
                        let n = self.nodes.len() as u32;
                        self.nodes.push(PathNode::default());
                        self.nodes[node as usize].children.insert(piece.into(), n);
                        n
                    }
                };
            }
        }
        self.nodes[node as usize].pid = Some(id);
        id
    }

    /// The node of `key` under `node`, when a pattern mentions it or something below it.
    /// Keys join into paths with dots, and a key joined to the empty path adds no dot (as
    /// in Event Ruler and the reference matcher), so `""` at the root stays at the root.
    fn child(&self, node: u32, key: &str) -> Option<u32> {
        if node == 0 && key.is_empty() {
            return (!self.nodes.is_empty()).then_some(0);
        }
        let mut n = node;
        for piece in key.split('.') {
            n = *self.nodes.get(n as usize)?.children.get(piece)?;
        }
        Some(n)
    }

    /// The path id of a node; the root (the empty path) holds no leaf.
    fn pid(&self, node: u32) -> Option<u32> {
        if node == 0 {
            return None;
        }
        self.nodes.get(node as usize).and_then(|n| n.pid)
    }

    /// The ids of the patterns `event` matches, in increasing order.
    pub fn matches(&self, event: &Value, scratch: &mut Scratch) -> Vec<usize> {
        scratch.reset(self.indexes.len(), self.sub_rules.len());
        let mut membership = Vec::new();
        let mut next_array = 0u32;
        self.walk(event, 0, &mut membership, &mut next_array, scratch);
        self.decide(scratch)
    }

    fn walk(
        &self,
        v: &Value,
        node: u32,
        membership: &mut Vec<(u32, u32)>,
        next_array: &mut u32,
        s: &mut Scratch,
    ) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    if let Some(n) = self.child(node, k) {
                        self.walk(child, n, membership, next_array, s);
                    }
                }
            }
            Value::Array(items) => {
                let id = *next_array;
                *next_array += 1;
                for (i, child) in items.iter().enumerate() {
                    membership.push((id, i as u32));
                    self.walk(child, node, membership, next_array, s);
                    membership.pop();
                }
            }
            leaf => {
                if let (Some(pid), Some(scalar)) = (self.pid(node), Scalar::of(leaf)) {
                    self.leaf(pid, scalar, membership, s);
                }
            }
        }
    }

    /// Records a leaf at indexed path `pid` and the hits it makes.
    fn leaf(&self, pid: u32, v: Scalar<'_>, membership: &[(u32, u32)], s: &mut Scratch) {
        let leaf_ix = s.leaves.len() as u32;
        s.leaves
            .push((s.membership.len() as u32, membership.len() as u32));
        s.membership.extend_from_slice(membership);
        s.present[pid as usize] = true;
        s.present_bloom |= 1 << (pid % 64);
        s.keep(pid, v);
        self.hit_leaf(&self.indexes[pid as usize], v, leaf_ix, s);
    }

    /// The ids of the patterns the JSON text `event` matches, read in one pass over the
    /// text: subtrees no pattern mentions are skipped, not decoded. Equivalent to parsing
    /// the text and calling [`CompiledPatterns::matches`], except for objects with a
    /// duplicated key: like Event Ruler's streaming reader this sees every value, while a
    /// parsed `serde_json::Value` keeps only the last.
    pub fn matches_json(
        &self,
        event: &str,
        scratch: &mut Scratch,
    ) -> Result<Vec<usize>, JsonError> {
        scratch.reset(self.indexes.len(), self.sub_rules.len());
        let mut sc = crate::scan::Scanner::new(event);
        let mut membership = Vec::new();
        let mut next_array = 0u32;
        sc.ws();
        if sc.peek() != Some(b'{') {
            return Err(sc.error("an event must be a JSON object"));
        }
        self.walk_json(&mut sc, 0, &mut membership, &mut next_array, scratch)?;
        sc.ws();
        if sc.peek().is_some() {
            return Err(sc.error("trailing characters after the event"));
        }
        Ok(self.decide(scratch))
    }

    fn walk_json(
        &self,
        sc: &mut crate::scan::Scanner<'_>,
        node: u32,
        membership: &mut Vec<(u32, u32)>,
        next_array: &mut u32,
        s: &mut Scratch,
    ) -> Result<(), JsonError> {
        sc.ws();
        match sc.peek() {
            Some(b'{') => {
                sc.bump();
                sc.ws();
                if sc.eat(b'}') {
                    return Ok(());
                }
                loop {
                    sc.ws();
                    let key = sc.string()?;
                    sc.ws();
                    if !sc.eat(b':') {
                        return Err(sc.error("expected `:` after an object key"));
                    }
                    match self.child(node, &key) {
                        Some(n) => self.walk_json(sc, n, membership, next_array, s)?,
                        None => sc.skip_value()?,
                    }
                    sc.ws();
                    if sc.eat(b',') {
                        continue;
                    }
                    if sc.eat(b'}') {
                        return Ok(());
                    }
                    return Err(sc.error("expected `,` or `}` in an object"));
                }
            }
            Some(b'[') => {
                sc.bump();
                let id = *next_array;
                *next_array += 1;
                sc.ws();
                if sc.eat(b']') {
                    return Ok(());
                }
                let mut i = 0u32;
                loop {
                    membership.push((id, i));
                    self.walk_json(sc, node, membership, next_array, s)?;
                    membership.pop();
                    i += 1;
                    sc.ws();
                    if sc.eat(b',') {
                        continue;
                    }
                    if sc.eat(b']') {
                        return Ok(());
                    }
                    return Err(sc.error("expected `,` or `]` in an array"));
                }
            }
            Some(_) => match self.pid(node) {
                Some(pid) => {
                    let text;
                    let scalar = match sc.scalar()? {
                        crate::scan::Token::Str(t) => {
                            text = t;
                            Scalar::Str(&text)
                        }
                        crate::scan::Token::Num(x) => Scalar::Num(x),
                        crate::scan::Token::Bool(b) => Scalar::Bool(b),
                        crate::scan::Token::Null => Scalar::Null,
                    };
                    self.leaf(pid, scalar, membership, s);
                    Ok(())
                }
                None => sc.skip_value(),
            },
            None => Err(sc.error("unexpected end of the event")),
        }
    }

    fn hit_leaf(&self, ix: &PathIndex, v: Scalar<'_>, leaf: u32, s: &mut Scratch) {
        s.hit_all(&ix.any, leaf);
        match v {
            Scalar::Str(st) => {
                if let Some(e) = ix.exact_str.get(st) {
                    s.hit_all(e, leaf);
                }
                if let Some(ids) = ix.composite.get(st) {
                    s.pending.extend_from_slice(ids);
                }
                if !ix.ip.is_empty() {
                    if let Some(e) = crate::pattern::parse_ip(st).and_then(|ip| ix.ip.get(&ip)) {
                        s.hit_all(e, leaf);
                    }
                }
                for &n in &ix.prefix_lens {
                    if let Some(e) = st.get(..n).and_then(|p| ix.prefix.get(p)) {
                        s.hit_all(e, leaf);
                    }
                }
                for &n in &ix.suffix_lens {
                    if let Some(e) = st
                        .len()
                        .checked_sub(n)
                        .and_then(|i| st.get(i..))
                        .and_then(|p| ix.suffix.get(p))
                    {
                        s.hit_all(e, leaf);
                    }
                }
                for &n in &ix.wildcard_led_lens {
                    if let Some(list) = st.get(..n).and_then(|p| ix.wildcard_led.get(p)) {
                        for (w, e) in list {
                            if w.matches(st) {
                                s.hit(*e, leaf);
                            }
                        }
                    }
                }
                for (w, e) in &ix.wildcard_star {
                    if w.matches(st) {
                        s.hit_all(e, leaf);
                    }
                }
                if !ix.cidr_lens.is_empty() {
                    if let Some(ip) = crate::pattern::parse_ip(st) {
                        for &(v6, len) in &ix.cidr_lens {
                            if v6 == ip.is_ipv6() {
                                if let Some(e) = ix.cidr.get(&cidr_key(&ip, len)) {
                                    s.hit_all(e, leaf);
                                }
                            }
                        }
                    }
                }
                if ix.needs_lower {
                    let lower = st.to_lowercase();
                    if let Some(e) = ix.eq_ic.get(lower.as_str()) {
                        s.hit_all(e, leaf);
                    }
                    for &n in &ix.prefix_ic_lens {
                        if let Some(e) = lower.get(..n).and_then(|p| ix.prefix_ic.get(p)) {
                            s.hit_all(e, leaf);
                        }
                    }
                    for &n in &ix.suffix_ic_lens {
                        if let Some(e) = lower
                            .len()
                            .checked_sub(n)
                            .and_then(|i| lower.get(i..))
                            .and_then(|p| ix.suffix_ic.get(p))
                        {
                            s.hit_all(e, leaf);
                        }
                    }
                }
            }
            Scalar::Num(x) => {
                if let Some(e) = ix.exact_num.get(&num_key(x)) {
                    s.hit_all(e, leaf);
                }
                let end = if ix.numeric.is_empty() || !crate::pattern::comparable(x) {
                    0
                } else {
                    ix.numeric_lows.partition_point(|l| *l <= x)
                };
                for (r, e) in &ix.numeric[..end] {
                    if r.contains(x) {
                        s.hit_all(e, leaf);
                    }
                }
            }
            Scalar::Bool(true) => s.hit_all(&ix.exact_true, leaf),
            Scalar::Bool(false) => s.hit_all(&ix.exact_false, leaf),
            Scalar::Null => s.hit_all(&ix.exact_null, leaf),
        }
        for (m, e) in &ix.scan {
            if scalar_matches(m, v) {
                s.hit_all(e, leaf);
            }
        }
    }

    /// Touches the sub-rules of the composite anchors whose first half the event met and
    /// whose second half it has.
    fn resolve_composites(&self, s: &mut Scratch) {
        let pending = std::mem::take(&mut s.pending);
        for &id in &pending {
            let Some(c) = self.composites.get(id as usize) else {
                continue;
            };
            let mut l = s.path_head.get(c.path as usize).copied().unwrap_or(NONE);
            while l != NONE {
                if let Scalar::Str(v) = s.value(l) {
                    if let Some(srs) = c.by_value.get(v) {
                        for &sr in srs {
                            s.touch(sr);
                        }
                    }
                }
                l = s.leaf_next[l as usize];
            }
        }
        s.pending = pending;
    }

    fn decide(&self, s: &mut Scratch) -> Vec<usize> {
        self.resolve_composites(s);
        let mut out: Vec<usize> = Vec::new();
        if s.pattern_stamps.len() < self.patterns {
            s.pattern_stamps.resize(self.patterns, 0);
        }
        let mut candidates = std::mem::take(&mut s.touched);
        candidates.extend_from_slice(&self.absence_only);
        for &sr in &candidates {
            let info = &self.sub_rules[sr as usize];
            let p = info.pattern as usize;
            if s.pattern_stamps[p] == s.generation {
                continue;
            }
            if self.sub_rule_holds(sr, info, s) {
                s.pattern_stamps[p] = s.generation;
                out.push(p);
            }
        }
        s.touched = candidates;
        out.sort_unstable();
        out
    }

    /// How near the last event given to [`CompiledPatterns::matches`] came to each pattern:
    /// for each pattern one of whose sub-rules it touched (a leaf satisfied one of its
    /// fields, or the sub-rule is made only of `exists: false` fields), the closest such
    /// sub-rule (its index in the pattern) and how many of its fields failed; 0 only for a
    /// sub-rule that matched, and fields that held one by one but not from the same array
    /// elements count as one failure. `None` for patterns the event did not touch.
    pub fn closeness(&self, scratch: &Scratch) -> Vec<Option<(usize, usize)>> {
        let mut out: Vec<Option<(usize, usize)>> = vec![None; self.patterns];
        for &sr in scratch.touched.iter().chain(&self.absence_only) {
            let Some(info) = self.sub_rules.get(sr as usize) else {
                continue;
            };
            let slot = &mut out[info.pattern as usize];
            if matches!(slot, Some((_, 0))) {
                continue;
            }
            let failed = self.failures(sr, info, scratch);
            if slot.is_none_or(|(_, f)| failed < f) {
                *slot = Some((info.local as usize, failed));
            }
        }
        out
    }

    fn failures(&self, sr: u32, info: &SubRuleInfo, s: &Scratch) -> usize {
        self.evaluate(sr, info, s, usize::MAX)
    }

    fn sub_rule_holds(&self, sr: u32, info: &SubRuleInfo, s: &Scratch) -> bool {
        self.evaluate(sr, info, s, 0) == 0
    }

    /// How many fields of a sub-rule fail (fields that held one by one but not from the same
    /// array elements count as one), stopping once more than `enough` have.
    fn evaluate(&self, sr: u32, info: &SubRuleInfo, s: &Scratch, enough: usize) -> usize {
        let (mask, free) = if s.stamps.get(sr as usize) == Some(&s.generation) {
            (s.masks[sr as usize], s.free[sr as usize])
        } else {
            (0, 0)
        };
        if enough == 0
            && (mask & info.required != info.required
                || info.need_bloom & !s.present_bloom != 0
                || info
                    .fields
                    .iter()
                    .any(|f| !f.absence && !s.present[f.path as usize]))
        {
            // A quick no: an anchor missed, or a field that needs a value has none.
            return 1;
        }
        // Fields met by a leaf outside every array (or by absence) are met whatever else is
        // chosen; the others need a choice of array leaves that agree.
        let mut choices: Vec<(Vec<u32>, bool)> = Vec::new();
        let mut failed = 0;
        for (fi, f) in info.fields.iter().enumerate() {
            match self.field_state(sr, fi, f, mask, free, s) {
                FieldState::Fails => {
                    failed += 1;
                    if failed > enough {
                        return failed;
                    }
                }
                FieldState::Free => {}
                FieldState::Choose(leaves) => choices.push((leaves, false)),
            }
        }
        if failed == 0 && choices.len() > 1 && !search(&choices, s, &mut Vec::new()) {
            failed = 1;
        }
        failed
    }

    fn field_state(
        &self,
        sr: u32,
        fi: usize,
        f: &FieldInfo,
        mask: u64,
        free: u64,
        s: &Scratch,
    ) -> FieldState {
        let absent_ok = f.absence && !s.present[f.path as usize];
        let mut leaves = Vec::new();
        if f.anchored {
            if fi < 64 && free & (1 << fi) != 0 {
                return FieldState::Free;
            }
            if fi < 64 && mask & (1 << fi) == 0 {
                return if absent_ok {
                    FieldState::Free
                } else {
                    FieldState::Fails
                };
            }
            leaves.extend(
                s.array_hits
                    .iter()
                    .filter(|(r, f, _)| *r == sr && *f as usize == fi)
                    .map(|(_, _, l)| *l),
            );
        } else {
            let mut l = s.path_head.get(f.path as usize).copied().unwrap_or(NONE);
            while l != NONE {
                let v = s.value(l);
                if f.matchers.iter().any(|m| scalar_matches(m, v)) {
                    if s.leaves[l as usize].1 == 0 {
                        return FieldState::Free;
                    }
                    leaves.push(l);
                }
                l = s.leaf_next[l as usize];
            }
        }
        match (leaves.is_empty(), absent_ok) {
            (true, true) => FieldState::Free,
            (true, false) => FieldState::Fails,
            (false, _) => FieldState::Choose(leaves),
        }
    }
}

/// How one field of a sub-rule stands against the event.
enum FieldState {
    Fails,
    /// Met whatever the other fields choose: by a leaf outside every array, or by absence.
    Free,
    /// Met by one of these leaves, all inside arrays.
    Choose(Vec<u32>),
}

const NONE: u32 = u32::MAX;

/// A kept leaf value; strings live in the scratch's arena.
#[derive(Clone, Copy, Debug)]
enum Kept {
    Str(u32, u32),
    Num(f64),
    Bool(bool),
    Null,
}

fn search(choices: &[(Vec<u32>, bool)], s: &Scratch, picked: &mut Vec<u32>) -> bool {
    let Some(((candidates, absent_ok), rest)) = choices.split_first() else {
        return true;
    };
    if *absent_ok && search(rest, s, picked) {
        return true;
    }
    for &l in candidates {
        if picked
            .iter()
            .all(|&p| consistent(s.membership_of(p), s.membership_of(l)))
        {
            picked.push(l);
            let found = search(rest, s, picked);
            picked.pop();
            if found {
                return true;
            }
        }
    }
    false
}

/// Reusable working memory for [`CompiledPatterns::matches`]; one per thread. Flat arrays,
/// reused from event to event: a generation stamp says which sub-rules this event touched.
#[derive(Default, Debug)]
pub struct Scratch {
    /// Per leaf: its range in `membership`.
    leaves: Vec<(u32, u32)>,
    membership: Vec<(u32, u32)>,
    present: Vec<bool>,
    /// Bit `path % 64` for each path with a leaf.
    present_bloom: u64,
    generation: u32,
    stamps: Vec<u32>,
    masks: Vec<u64>,
    touched: Vec<u32>,
    /// Per touched sub-rule: the fields met by a leaf outside every array.
    free: Vec<u64>,
    /// (sub-rule, field, leaf) for hits on leaves inside arrays (and fields past the 64th).
    array_hits: Vec<(u32, u16, u32)>,
    /// Patterns already found to match this event (stamped with the generation).
    pattern_stamps: Vec<u32>,
    /// Per leaf: its value, and the previous leaf at the same path.
    kept: Vec<Kept>,
    leaf_next: Vec<u32>,
    arena: String,
    /// Per path: the last leaf kept there.
    path_head: Vec<u32>,
    /// Composite anchors whose first half this event met.
    pending: Vec<u32>,
}

impl Scratch {
    /// How many sub-rules the last event was checked against (those its leaves touched,
    /// and those made only of `exists: false` fields): what matching it cost.
    pub fn candidates(&self) -> usize {
        self.touched.len()
    }

    fn reset(&mut self, paths: usize, sub_rules: usize) {
        self.leaves.clear();
        self.membership.clear();
        self.present.clear();
        self.present.resize(paths, false);
        self.present_bloom = 0;
        if self.stamps.len() < sub_rules {
            self.stamps.resize(sub_rules, 0);
            self.masks.resize(sub_rules, 0);
            self.free.resize(sub_rules, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamps.iter_mut().for_each(|s| *s = u32::MAX);
            self.pattern_stamps.iter_mut().for_each(|s| *s = u32::MAX);
            self.generation = 1;
        }
        self.touched.clear();
        self.array_hits.clear();
        self.kept.clear();
        self.leaf_next.clear();
        self.arena.clear();
        self.path_head.clear();
        self.path_head.resize(paths, NONE);
        self.pending.clear();
    }

    /// Marks a sub-rule as one to check, with no anchor hit recorded.
    fn touch(&mut self, sr: u32) {
        let i = sr as usize;
        if self.stamps[i] != self.generation {
            self.stamps[i] = self.generation;
            self.masks[i] = 0;
            self.free[i] = 0;
            self.touched.push(sr);
        }
    }

    fn keep(&mut self, pid: u32, v: Scalar<'_>) {
        let kept = match v {
            Scalar::Str(t) => {
                let start = self.arena.len() as u32;
                self.arena.push_str(t);
                Kept::Str(start, t.len() as u32)
            }
            Scalar::Num(x) => Kept::Num(x),
            Scalar::Bool(b) => Kept::Bool(b),
            Scalar::Null => Kept::Null,
        };
        let ix = self.kept.len() as u32;
        self.kept.push(kept);
        self.leaf_next.push(self.path_head[pid as usize]);
        self.path_head[pid as usize] = ix;
    }

    fn value(&self, leaf: u32) -> Scalar<'_> {
        match self.kept[leaf as usize] {
            Kept::Str(start, len) => {
                Scalar::Str(&self.arena[start as usize..(start + len) as usize])
            }
            Kept::Num(x) => Scalar::Num(x),
            Kept::Bool(b) => Scalar::Bool(b),
            Kept::Null => Scalar::Null,
        }
    }

    fn membership_of(&self, leaf: u32) -> &[(u32, u32)] {
        let (start, len) = self.leaves[leaf as usize];
        &self.membership[start as usize..(start + len) as usize]
    }

    fn hit_all(&mut self, entries: &[Entry], leaf: u32) {
        for e in entries {
            self.hit(*e, leaf);
        }
    }

    fn hit(&mut self, e: Entry, leaf: u32) {
        let sr = e.sub_rule as usize;
        if self.stamps[sr] != self.generation {
            self.stamps[sr] = self.generation;
            self.masks[sr] = 0;
            self.free[sr] = 0;
            self.touched.push(e.sub_rule);
        }
        let in_array = self.leaves[leaf as usize].1 > 0;
        if e.field < 64 {
            self.masks[sr] |= 1 << e.field;
            if !in_array {
                self.free[sr] |= 1 << e.field;
            }
        }
        if in_array || e.field >= 64 {
            self.array_hits.push((e.sub_rule, e.field, leaf));
        }
    }
}
