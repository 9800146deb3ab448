//! Views of the published inventory for people: what `dockerhub_exporter inventory` prints.
//!
//! The exposition (see `publication`) is the inventory for Prometheus; these are the same
//! snapshot as a person or a script reads it: a table for a terminal, one JSON document, CSV.
//! They only write what a snapshot holds; they neither read the Hub nor decide what is in the
//! snapshot.

pub(crate) mod listing;
