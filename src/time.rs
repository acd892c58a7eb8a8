pub use crate::capture::Timestamp;
