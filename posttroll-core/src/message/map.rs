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
    entries: Vec<(CompactString, Value)>,
    /// Positions in `entries` by key hash, once there are enough of them.
    index: Option<Box<Index>>,
}

#[derive(Clone)]
struct Index {
    table: HashTable<usize>,
    /// Seeded per process, so hostile keys cannot aim at collisions.
    hasher: foldhash::fast::RandomState,
}

impl Index {
    fn build(entries: &[(CompactString, Value)]) -> Box<Index> {
        let mut index = Box::new(Index {
            table: HashTable::with_capacity(entries.len() * 2),
            hasher: foldhash::fast::RandomState::default(),
        });
        for (i, (k, _)) in entries.iter().enumerate() {
            index.push(entries, k, i);
        }
        index
    }

    #[inline]
    fn hash(&self, key: &str) -> u64 {
        self.hasher.hash_one(key)
    }

    fn find(&self, entries: &[(CompactString, Value)], key: &str) -> Option<usize> {
        self.table
            .find(self.hash(key), |&i| entries[i].0 == key)
            .copied()
    }

    /// Records that `entries[i]` holds `key` (not yet in the index).
    fn push(&mut self, entries: &[(CompactString, Value)], key: &str, i: usize) {
        let hash = self.hash(key);
        let hasher = &self.hasher;
        self.table
            .insert_unique(hash, i, |&j| hasher.hash_one(entries[j].0.as_str()));
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
            None => self.entries.iter().position(|(k, _)| k == key),
        }
    }

    /// The value under `key`.
    #[inline]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.get_index_of(key).map(|i| &self.entries[i].1)
    }

    /// The value under `key`, mutable.
    pub fn get_mut(&mut self, key: &str) -> Option<&mut Value> {
        self.get_index_of(key).map(|i| &mut self.entries[i].1)
    }

    /// The entry at position `i` (insertion order).
    pub fn get_index(&self, i: usize) -> Option<(&CompactString, &Value)> {
        self.entries.get(i).map(|(k, v)| (k, v))
    }

    /// True when `key` is present.
    pub fn contains_key(&self, key: &str) -> bool {
        self.get_index_of(key).is_some()
    }

    /// Sets `key` to `value`. A key already present keeps its position and
    /// its old value is returned; a new key goes last.
    pub fn insert(&mut self, key: CompactString, value: Value) -> Option<Value> {
        match self.get_index_of(&key) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.push_new(key, value);
                None
            }
        }
    }

    /// Appends an entry whose key is known to be absent.
    fn push_new(&mut self, key: CompactString, value: Value) {
        let i = self.entries.len();
        self.entries.push((key, value));
        match &mut self.index {
            Some(index) => index.push(&self.entries, &self.entries[i].0, i),
            None if i + 1 >= INDEXED_FROM => self.index = Some(Index::build(&self.entries)),
            None => {}
        }
    }

    /// Removes `key`, keeping the order of the others (Python's `dict.pop`),
    /// and returns its value.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        let i = self.get_index_of(key)?;
        let (_, value) = self.entries.remove(i);
        self.reindex();
        Some(value)
    }

    /// Keeps only the entries for which `keep` returns true, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&CompactString, &mut Value) -> bool) {
        let before = self.entries.len();
        self.entries.retain_mut(|(k, v)| keep(k, v));
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
        self.entries.iter().map(|(k, _)| k)
    }

    /// The values, in order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// The values, in order, mutable.
    pub fn values_mut(
        &mut self,
    ) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
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
pub struct MapIter<'a>(std::slice::Iter<'a, (CompactString, Value)>);

impl<'a> Iterator for MapIter<'a> {
    type Item = (&'a CompactString, &'a Value);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for MapIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl ExactSizeIterator for MapIter<'_> {}

/// Iterator over the entries of a [`Map`], in order, values mutable.
#[derive(Debug)]
pub struct MapIterMut<'a>(std::slice::IterMut<'a, (CompactString, Value)>);

impl<'a> Iterator for MapIterMut<'a> {
    type Item = (&'a CompactString, &'a mut Value);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (&*k, v))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for MapIterMut<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (&*k, v))
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
    type IntoIter = std::vec::IntoIter<(CompactString, Value)>;

    /// The entries, in order.
    fn into_iter(self) -> Self::IntoIter {
        self.entries.into_iter()
    }
}

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
                .all(|(i, (k, v))| match other.entries.get(i) {
                    // The usual case: same order.
                    Some((k2, v2)) if k2 == k => v == v2,
                    _ => other.get(k) == Some(v),
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
