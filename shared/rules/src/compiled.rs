//! Patterns compiled for speed: the cost of matching an event grows with the event and the
//! patterns it comes close to, not with the number of patterns.
//!
//! Learning from Event Ruler and Quamina: every field of every sub-rule is indexed by its
//! dotted path, and, at a path, by the kind of test (exact values and IP addresses in hash
//! maps keyed by the value; prefixes and suffixes in hash maps probed only at the lengths
//! some pattern uses; case-insensitive tests by the lowercased value). The event is
//! flattened with subtrees that no pattern mentions skipped; each leaf at an indexed path
//! yields the (sub-rule, field) pairs it satisfies; only sub-rules with hits (or made only of
//! `exists: false` fields) are checked, with the same array-consistency search as the
//! reference matcher. Tests that cannot be hashed (wildcards, numeric ranges, CIDR blocks,
//! anything-but) are checked one by one, but only at their own path.

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
    wildcard_star: Vec<(crate::pattern::Wildcard, Entry)>,
    cidr: Vec<(crate::pattern::Cidr, Entry)>,
    numeric: Vec<(crate::pattern::Range, Entry)>,
    /// Anything-but, checked one by one.
    scan: Vec<(Matcher, Entry)>,
    /// Whether any string test at this path needs the lowercased value.
    needs_lower: bool,
}

#[derive(Debug)]
struct SubRuleInfo {
    pattern: u32,
    /// Its index among the sub-rules of its pattern.
    local: u32,
    /// Per field: its path id, and whether absence satisfies it.
    fields: Vec<(u32, bool)>,
    /// Fields that only a hit satisfies (the first 64; wider sub-rules skip the quick test).
    required: u64,
}

/// A set of patterns compiled for matching; patterns are numbered in the order given.
#[derive(Debug, Default)]
pub struct CompiledPatterns {
    path_ids: FxHashMap<String, u32>,
    indexes: Vec<PathIndex>,
    /// Every proper prefix of an indexed path: subtrees elsewhere are skipped.
    prefixes: FxHashSet<String>,
    sub_rules: Vec<SubRuleInfo>,
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

fn add_len(lens: &mut Vec<usize>, n: usize) {
    if !lens.contains(&n) {
        lens.push(n);
    }
}

impl CompiledPatterns {
    pub fn new() -> CompiledPatterns {
        CompiledPatterns::default()
    }

    /// Compiles patterns; the id of each is its position.
    pub fn compile<'a>(patterns: impl IntoIterator<Item = &'a Pattern>) -> CompiledPatterns {
        let mut c = CompiledPatterns::new();
        for p in patterns {
            c.add(p);
        }
        c
    }

    /// How many patterns were added.
    pub fn len(&self) -> usize {
        self.patterns
    }

    pub fn is_empty(&self) -> bool {
        self.patterns == 0
    }

    /// Adds a pattern and returns its id.
    pub fn add(&mut self, pattern: &Pattern) -> usize {
        let id = self.patterns as u32;
        self.patterns += 1;
        for (local, sr) in pattern.sub_rules.iter().enumerate() {
            let sub_rule = self.sub_rules.len() as u32;
            let mut fields = Vec::with_capacity(sr.fields.len());
            for (fi, f) in sr.fields.iter().enumerate() {
                let path = self.path_id(&f.path);
                fields.push((path, f.allows_absence()));
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
                            _ => ix.wildcard_star.push((w.clone(), entry)),
                        },
                        Matcher::Cidr(c) => ix.cidr.push((c.clone(), entry)),
                        Matcher::Numeric(r) => ix.numeric.push((r.clone(), entry)),
                        other => ix.scan.push((other.clone(), entry)),
                    }
                }
            }
            if fields.iter().all(|(_, absence)| *absence) {
                self.absence_only.push(sub_rule);
            }
            let required = fields
                .iter()
                .enumerate()
                .filter(|(i, (_, absence))| !absence && *i < 64)
                .fold(0u64, |m, (i, _)| m | (1 << i));
            self.sub_rules.push(SubRuleInfo {
                pattern: id,
                local: local as u32,
                fields,
                required,
            });
        }
        id as usize
    }

    fn path_id(&mut self, path: &str) -> u32 {
        if let Some(id) = self.path_ids.get(path) {
            return *id;
        }
        let id = self.indexes.len() as u32;
        self.indexes.push(PathIndex::default());
        self.path_ids.insert(path.to_string(), id);
        let mut p = path;
        while let Some(i) = p.rfind('.') {
            p = &p[..i];
            self.prefixes.insert(p.to_string());
        }
        id
    }

    /// The ids of the patterns `event` matches, in increasing order.
    pub fn matches(&self, event: &Value, scratch: &mut Scratch) -> Vec<usize> {
        scratch.reset(self.indexes.len(), self.sub_rules.len());
        let mut path = String::new();
        let mut membership = Vec::new();
        let mut next_array = 0u32;
        self.walk(event, &mut path, &mut membership, &mut next_array, scratch);
        self.decide(scratch)
    }

    fn walk(
        &self,
        v: &Value,
        path: &mut String,
        membership: &mut Vec<(u32, u32)>,
        next_array: &mut u32,
        s: &mut Scratch,
    ) {
        match v {
            Value::Object(map) => {
                for (k, child) in map {
                    let len = path.len();
                    if len > 0 {
                        path.push('.');
                    }
                    path.push_str(k);
                    if self.path_ids.contains_key(path.as_str())
                        || self.prefixes.contains(path.as_str())
                    {
                        self.walk(child, path, membership, next_array, s);
                    }
                    path.truncate(len);
                }
            }
            Value::Array(items) => {
                let id = *next_array;
                *next_array += 1;
                for (i, child) in items.iter().enumerate() {
                    membership.push((id, i as u32));
                    self.walk(child, path, membership, next_array, s);
                    membership.pop();
                }
            }
            leaf => {
                if let (Some(&pid), Some(scalar)) =
                    (self.path_ids.get(path.as_str()), Scalar::of(leaf))
                {
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
        self.hit_leaf(&self.indexes[pid as usize], v, leaf_ix, s);
    }

    /// Whether a subtree at `path` can hold anything a pattern mentions.
    fn wanted(&self, path: &str) -> bool {
        self.path_ids.contains_key(path) || self.prefixes.contains(path)
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
        let mut path = String::new();
        let mut membership = Vec::new();
        let mut next_array = 0u32;
        sc.ws();
        if sc.peek() != Some(b'{') {
            return Err(sc.error("an event must be a JSON object"));
        }
        self.walk_json(
            &mut sc,
            &mut path,
            &mut membership,
            &mut next_array,
            scratch,
        )?;
        sc.ws();
        if sc.peek().is_some() {
            return Err(sc.error("trailing characters after the event"));
        }
        Ok(self.decide(scratch))
    }

    fn walk_json(
        &self,
        sc: &mut crate::scan::Scanner<'_>,
        path: &mut String,
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
                    let len = path.len();
                    if len > 0 {
                        path.push('.');
                    }
                    path.push_str(&key);
                    if self.wanted(path) {
                        self.walk_json(sc, path, membership, next_array, s)?;
                    } else {
                        sc.skip_value()?;
                    }
                    path.truncate(len);
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
                    self.walk_json(sc, path, membership, next_array, s)?;
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
            Some(_) => match self.path_ids.get(path.as_str()) {
                Some(&pid) => {
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
                        s.hit(*e, leaf);
                    }
                }
                if !ix.cidr.is_empty() {
                    if let Ok(ip) = st.parse::<IpAddr>() {
                        for (c, e) in &ix.cidr {
                            if c.contains(&ip) {
                                s.hit(*e, leaf);
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
                for (r, e) in &ix.numeric {
                    if r.contains(x) {
                        s.hit(*e, leaf);
                    }
                }
            }
            Scalar::Bool(true) => s.hit_all(&ix.exact_true, leaf),
            Scalar::Bool(false) => s.hit_all(&ix.exact_false, leaf),
            Scalar::Null => s.hit_all(&ix.exact_null, leaf),
        }
        for (m, e) in &ix.scan {
            if scalar_matches(m, v) {
                s.hit(*e, leaf);
            }
        }
    }

    fn decide(&self, s: &mut Scratch) -> Vec<usize> {
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
        let mask = if s.stamps.get(sr as usize) == Some(&s.generation) {
            s.masks[sr as usize]
        } else {
            0
        };
        let mut failed = 0;
        for (fi, &(path, absence)) in info.fields.iter().enumerate() {
            let hit = if fi < 64 {
                mask & (1 << fi) != 0
            } else {
                s.array_hits
                    .iter()
                    .any(|(r, f, _)| *r == sr && *f as usize == fi)
            };
            let absent_ok = absence && !s.present[path as usize];
            if !(hit || absent_ok) {
                failed += 1;
            }
        }
        if failed == 0 && !self.sub_rule_holds(sr, info, s) {
            failed = 1;
        }
        failed
    }

    fn sub_rule_holds(&self, sr: u32, info: &SubRuleInfo, s: &Scratch) -> bool {
        let touched = s.stamps.get(sr as usize) == Some(&s.generation);
        let (mask, free) = if touched {
            (s.masks[sr as usize], s.free[sr as usize])
        } else {
            (0, 0)
        };
        if mask & info.required != info.required {
            return false;
        }
        let array_hits = |fi: usize| {
            s.array_hits
                .iter()
                .filter(move |(r, f, _)| *r == sr && *f as usize == fi)
        };
        // Fields met by a leaf outside every array are met whatever else is chosen; the
        // others need a choice of array leaves that agree.
        let mut choices: Vec<(Vec<u32>, bool)> = Vec::new();
        for (fi, &(path, absence)) in info.fields.iter().enumerate() {
            let absent_ok = absence && !s.present[path as usize];
            if fi < 64 && free & (1 << fi) != 0 {
                continue;
            }
            if fi < 64 && mask & (1 << fi) == 0 {
                if absent_ok {
                    continue;
                }
                return false;
            }
            let leaves: Vec<u32> = array_hits(fi).map(|(_, _, l)| *l).collect();
            if leaves.is_empty() && !absent_ok {
                return false;
            }
            choices.push((leaves, absent_ok));
        }
        choices.len() <= 1 || search(&choices, s, &mut Vec::new())
    }
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
}

impl Scratch {
    fn reset(&mut self, paths: usize, sub_rules: usize) {
        self.leaves.clear();
        self.membership.clear();
        self.present.clear();
        self.present.resize(paths, false);
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
