//! Output: the text report for people, JSON and JSON Lines for programs. The serialisable
//! types themselves are the analysis records (see `analysis::record` and `analysis::summary`);
//! their field names are the documented, stable schema.

pub mod json;
pub mod text;
