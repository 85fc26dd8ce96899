//! [`Map`]: a JSON object as Python's `dict` holds it, keys in insertion order.
//!
//! Message data dicts are small (a file's metadata has about ten keys), so
//! the map is a plain vector of entries searched linearly: no hashing and a
//! single allocation, where a hash map pays a hash per key and a second
//! allocation for its table. Past [`INDEXED_FROM`] entries a hash index over
//! the entries is built, so that large (possibly hostile) objects stay
//! linear to build and look up.

use std::fmt;
use std::hash::BuildHasher;

use compact_str::CompactString;
use hashbrown::HashTable;

use super::scan::fingerprint;
use super::value::{Value, NULL};

/// From this many entries on, lookups go through a hash index.
const INDEXED_FROM: usize = 16;

/// A JSON object with its keys in insertion order, as Python's `dict`.
///
/// Inserting a key that is already there replaces its value and keeps its
/// position (as `dict` does); equality ignores the order, as `dict`'s does.
///
/// # Examples
///
/// ```
/// use posttroll_core::message::{Map, Value};
///
/// let mut m = Map::new();
/// m.insert("orbit".into(), Value::from(1));
/// m.insert("sensor".into(), Value::from("viirs"));
/// m.insert("orbit".into(), Value::from(2));
/// assert_eq!(m.keys().collect::<Vec<_>>(), ["orbit", "sensor"]);
/// assert_eq!(m.get("orbit"), Some(&Value::from(2)));
/// ```
#[derive(Clone, Default)]
pub struct Map {
    entries: Vec<Entry>,
    /// Positions in `entries` by key hash, once there are enough of them.
    index: Option<Box<Index>>,
}

/// One key and its value.
#[derive(Clone, Debug)]
struct Entry {
    /// [`fingerprint`] of the key: the linear search compares keys only
    /// where these match.
    print: u64,
    key: CompactString,
    value: Value,
}

impl Entry {
    #[inline]
    fn has_key(&self, print: u64, key: &str) -> bool {
        self.print == print && self.key == key
    }
}

/// An entry to push and then fill in place: an entry built on the stack
/// and copied into the vector right away is read back before its stores
/// are done (a store-forwarding stall that costs more than the rest).
const EMPTY_ENTRY: Entry = Entry {
    print: 0,
    key: CompactString::const_new(""),
    value: Value::Null,
};

#[derive(Clone)]
struct Index {
    table: HashTable<usize>,
    /// Seeded per process, so hostile keys cannot aim at collisions.
    hasher: foldhash::fast::RandomState,
}

impl Index {
    fn build(entries: &[Entry]) -> Box<Index> {
        let mut index = Box::new(Index {
            table: HashTable::with_capacity(entries.len() * 2),
            hasher: foldhash::fast::RandomState::default(),
        });
        for (i, e) in entries.iter().enumerate() {
            index.push(entries, &e.key, i);
        }
        index
    }

    #[inline]
    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    fn find(&self, entries: &[Entry], key: &str) -> Option<usize> {
        self.table
            .find(self.hash(key), |&i| entries[i].key == key)
            .copied()
    }

    /// Records that `entries[i]` holds `key` (not yet in the index).
    fn push(&mut self, entries: &[Entry], key: &str, i: usize) {
        let hash = self.hash(key);
        let hasher = &self.hasher;
        self.table
            .insert_unique(hash, i, |&j| hasher.hash_one(entries[j].key.as_str()));
    }
}

impl Map {
    /// An empty map (no allocation).
    pub fn new() -> Map {
        Map::default()
    }

    /// An empty map with room for `capacity` entries.
    pub fn with_capacity(capacity: usize) -> Map {
        Map {
            entries: Vec::with_capacity(capacity),
            index: None,
        }
    }

    /// The number of entries.
    #[inline]
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entries.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The position of `key`, if present.
    #[inline]
    pub fn get_index_of(&self, key: &str) -> Option<usize> {
        match &self.index {
            Some(index) => index.find(&self.entries, key),
            None => {
                let print = fingerprint(key);
                self.entries.iter().position(|e| e.has_key(print, key))
            }
        }
    }

    /// The value under `key`.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.get_index_of(key).map(|i| &self.entries[i].value)
    }

    /// The value under `key`, mutable.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.get_index_of(key).map(|i| &mut self.entries[i].value)
    }

    /// The entry at position `i` (insertion order).
    pub fn get_index(&self, i: usize) -> Option<(&CompactString, &Value)> {
        self.entries.get(i).map(|e| (&e.key, &e.value))
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get_index_of(key).is_some()
    }

    /// Sets `key` to `value`. A key already present keeps its position and
    /// its old value is returned; a new key goes last.
    pub fn insert(&mut self, key: CompactString, value: Value) -> Option<Value> {
        match self.get_index_of(&key) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].value, value)),
            None => {
                self.push_new(key, value);
                None
            }
        }
    }

    /// The value at position `i`, which must be below [`Map::len`].
    #[inline]
    pub(crate) fn value_at_mut(&mut self, i: usize) -> &mut Value {
        &mut self.entries[i].value
    }

    /// Appends `key` (known to be absent: the parsers look it up first)
    /// with a `Null` value, and returns the value's place. The key is
    /// written in place, not moved there.
    #[inline(always)]
    pub(crate) fn push_key(&mut self, key: &str) -> &mut Value {
        let i = self.entries.len();
        self.entries.push(EMPTY_ENTRY);
        let entry = &mut self.entries[i];
        entry.print = fingerprint(key);
        entry.key.push_str(key);
        if self.index.is_some() || i + 1 >= INDEXED_FROM {
            self.index_last();
        }
        &mut self.entries[i].value
    }

    /// Adds the last entry to the index, building the index when needed.
    fn index_last(&mut self) {
        let i = self.entries.len() - 1;
        match &mut self.index {
            Some(index) => index.push(&self.entries, &self.entries[i].key, i),
            None => self.index = Some(Index::build(&self.entries)),
        }
    }

    /// [`Map::insert`] from a `&str` key, copied into its place.
    pub(crate) fn insert_str(&mut self, key: &str, value: Value) -> Option<Value> {
        match self.get_index_of(key) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].value, value)),
            None => {
                *self.push_key(key) = value;
                None
            }
        }
    }

    /// Appends an entry whose key is known to be absent.
    fn push_new(&mut self, key: CompactString, value: Value) {
        let i = self.entries.len();
        self.entries.push(EMPTY_ENTRY);
        let entry = &mut self.entries[i];
        entry.print = fingerprint(&key);
        entry.key = key;
        entry.value = value;
        if self.index.is_some() || self.entries.len() >= INDEXED_FROM {
            self.index_last();
        }
    }

    /// Removes `key`, keeping the order of the others (Python's `dict.pop`),
    /// and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.get_index_of(key)?;
        let entry = self.entries.remove(i);
        self.reindex();
        Some(entry.value)
    }

    /// Keeps only the entries for which `keep` returns true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&CompactString, &mut Value) -> bool) {
        let before = self.entries.len();
        self.entries.retain_mut(|e| keep(&e.key, &mut e.value));
        if self.entries.len() != before {
            self.reindex();
        }
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.index = None;
    }

    /// Makes room for `additional` more entries.
    pub fn reserve(&mut self, additional: usize) {
        self.entries.reserve(additional);
    }

    /// Rebuilds the index after entries moved.
    fn reindex(&mut self) {
        self.index = (self.entries.len() >= INDEXED_FROM).then(|| Index::build(&self.entries));
    }

    /// The keys, in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &CompactString> + ExactSizeIterator {
        self.entries.iter().map(|e| &e.key)
    }

    /// The values, in order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.entries.iter().map(|e| &e.value)
    }

    /// The values, in order, mutable.
    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.entries.iter_mut().map(|e| &mut e.value)
    }

    /// The entries, in order.
    pub fn iter(&self) -> MapIter<'_> {
        MapIter(self.entries.iter())
    }

    /// The entries, in order, values mutable.
    pub fn iter_mut(&mut self) -> MapIterMut<'_> {
        MapIterMut(self.entries.iter_mut())
    }
}

/// Iterator over the entries of a [`Map`], in order.
#[derive(Clone, Debug)]
pub struct MapIter<'a>(std::slice::Iter<'a, Entry>);

impl<'a> Iterator for MapIter<'a> {
    type Item = (&'a CompactString, &'a Value);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|e| (&e.key, &e.value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for MapIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|e| (&e.key, &e.value))
    }
}

impl ExactSizeIterator for MapIter<'_> {}

/// Iterator over the entries of a [`Map`], in order, values mutable.
#[derive(Debug)]
pub struct MapIterMut<'a>(std::slice::IterMut<'a, Entry>);

impl<'a> Iterator for MapIterMut<'a> {
    type Item = (&'a CompactString, &'a mut Value);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|e| (&e.key, &mut e.value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for MapIterMut<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|e| (&e.key, &mut e.value))
    }
}

impl ExactSizeIterator for MapIterMut<'_> {}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a CompactString, &'a Value);
    type IntoIter = MapIter<'a>;

    fn into_iter(self) -> MapIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Map {
    type Item = (&'a CompactString, &'a mut Value);
    type IntoIter = MapIterMut<'a>;

    fn into_iter(self) -> MapIterMut<'a> {
        self.iter_mut()
    }
}

impl IntoIterator for Map {
    type Item = (CompactString, Value);
    type IntoIter = MapIntoIter;

    /// The entries, in order.
    fn into_iter(self) -> MapIntoIter {
        MapIntoIter(self.entries.into_iter())
    }
}

/// Owning iterator over the entries of a [`Map`], in order.
#[derive(Debug)]
pub struct MapIntoIter(std::vec::IntoIter<Entry>);

impl Iterator for MapIntoIter {
    type Item = (CompactString, Value);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|e| (e.key, e.value))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for MapIntoIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|e| (e.key, e.value))
    }
}

impl ExactSizeIterator for MapIntoIter {}

impl FromIterator<(CompactString, Value)> for Map {
    /// A map of the pairs; a repeated key keeps its first position and its
    /// last value, as a `dict` built from the pairs does.
    fn from_iter<I: IntoIterator<Item = (CompactString, Value)>>(pairs: I) -> Map {
        let pairs = pairs.into_iter();
        let mut map = Map::with_capacity(pairs.size_hint().0);
        map.extend(pairs);
        map
    }
}

impl Extend<(CompactString, Value)> for Map {
    fn extend<I: IntoIterator<Item = (CompactString, Value)>>(&mut self, pairs: I) {
        for (k, v) in pairs {
            self.insert(k, v);
        }
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;

    /// The value under `key`, or `Null` when absent (no panic).
    fn index(&self, key: &str) -> &Value {
        self.get(key).unwrap_or(&NULL)
    }
}

impl PartialEq for Map {
    /// Same keys with equal values, in any order (as Python's `dict`).
    fn eq(&self, other: &Map) -> bool {
        self.len() == other.len()
            && self
                .entries
                .iter()
                .enumerate()
                .all(|(i, e)| match other.entries.get(i) {
                    // The usual case: same order.
                    Some(o) if o.key == e.key => e.value == o.value,
                    _ => other.get(&e.key) == Some(&e.value),
                })
    }
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl serde::Serialize for Map {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_and_indexed_maps_behave_alike() {
        for n in [3, INDEXED_FROM - 1, INDEXED_FROM, 100] {
            let mut m = Map::new();
            for i in 0..n {
                assert_eq!(m.insert(format!("k{i}").into(), Value::from(i)), None);
            }
            for i in (0..n).rev() {
                let old = m.insert(format!("k{i}").into(), Value::from(i + 1000));
                assert_eq!(old, Some(Value::from(i)));
            }
            assert_eq!(m.len(), n);
            for i in 0..n {
                assert_eq!(m.get_index_of(&format!("k{i}")), Some(i));
                assert_eq!(m[format!("k{i}").as_str()], Value::from(i + 1000));
            }
            assert_eq!(m.get("absent"), None);
            assert_eq!(m.remove("k1"), Some(Value::from(1001)));
            assert_eq!(m.remove("k1"), None);
            assert_eq!(m.get_index_of("k2"), Some(1));
            assert_eq!(m.len(), n - 1);
            m.retain(|k, _| k.as_str() != "k0");
            assert_eq!(m.get_index_of("k2"), Some(0));
            assert_eq!(m.keys().next().map(|k| k.as_str()), Some("k2"));
        }
    }

    #[test]
    fn equality_ignores_order() {
        let a: Map = [("a", 1), ("b", 2)]
            .into_iter()
            .map(|(k, v)| (k.into(), Value::from(v)))
            .collect();
        let b: Map = [("b", 2), ("a", 1)]
            .into_iter()
            .map(|(k, v)| (k.into(), Value::from(v)))
            .collect();
        assert_eq!(a, b);
        let c: Map = [("b", 2), ("a", 3)]
            .into_iter()
            .map(|(k, v)| (k.into(), Value::from(v)))
            .collect();
        assert_ne!(a, c);
    }
}
