#![doc = include_str!("../README.md")]
#![deny(unsafe_code)]

pub mod batch;
pub mod error;
pub mod filter;
pub mod keyslot;
pub mod org;
pub mod page;
pub mod sql;
pub mod value;

pub use error::{Error, Result};
