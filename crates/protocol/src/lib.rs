//! Wire vocabulary shared by every layer: Stream's error codes and envelope, timestamp format, event names.

pub mod error;
pub mod event;
pub mod time;

pub use error::{ApiError, ErrorCode};
