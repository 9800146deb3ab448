//! Platform names (`linux`, `amd64`, `v8`) held once, however many images carry them.
//!
//! An inventory of 100,000 tags holds hundreds of thousands of platform images, and a handful
//! of distinct operating systems, architectures and variants; each image holding its own copy
//! of each name would cost more than the rest of the image. Names are shared through one
//! table, bounded in the number and length of the names it keeps, so that whatever the Hub
//! sends cannot grow it without end: a name beyond the bounds is simply not shared.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use serde::{Deserialize, Deserializer};

/// Names kept at most.
const MAX_NAMES: usize = 1024;

/// Longest name kept.
const MAX_LEN: usize = 64;

/// The names kept.
fn names() -> &'static Mutex<HashSet<Arc<str>>> {
    static NAMES: OnceLock<Mutex<HashSet<Arc<str>>>> = OnceLock::new();
    NAMES.get_or_init(|| Mutex::new(HashSet::new()))
}

/// `name`, shared with every other holder of the same name while the table has room.
pub(crate) fn interned(name: &str) -> Arc<str> {
    if name.len() > MAX_LEN {
        return Arc::from(name);
    }
    let mut names = names().lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.get(name) {
        return Arc::clone(known);
    }
    let new: Arc<str> = Arc::from(name);
    if names.len() < MAX_NAMES {
        names.insert(Arc::clone(&new));
    }
    new
}

/// Deserializes a string as an [`interned`] name.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Arc<str>, D::Error> {
    let name = Cow::<str>::deserialize(d)?;
    Ok(interned(&name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_is_held_once_and_long_names_are_not_kept() {
        let a = interned("arm64");
        let b = interned(&String::from("arm64"));
        assert!(Arc::ptr_eq(&a, &b));
        let long = "x".repeat(MAX_LEN + 1);
        assert!(!Arc::ptr_eq(&interned(&long), &interned(&long)));
        assert_eq!(&*interned(&long), long);
    }

    #[test]
    fn the_table_never_grows_past_its_bound() {
        for n in 0..MAX_NAMES + 100 {
            let name = format!("hostile-{n}");
            assert_eq!(&*interned(&name), name);
        }
        assert!(names().lock().unwrap().len() <= MAX_NAMES);
    }
}
