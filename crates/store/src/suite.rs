//! placeholder suite
