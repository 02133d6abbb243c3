//! The source side of a stream: which windows to list, and how a blob becomes records.
//!
//! - `planner`: ≤24 h windows from the checkpoint, re-listing a recent span, never older than 7 days;
//! - `reader`: fetches a blob and streams it record by record (`splitter` finds the elements, `decoder`
//!   reads their common fields and skips unwanted record types without copying them; `structural` finds
//!   strings and brackets 64 bytes at a time for the splitter; `header` reads a wanted record's common
//!   fields in one validating pass, with serde_json as the fallback).

mod decoder;
mod header;
mod planner;
mod reader;
mod splitter;
mod structural;

pub use decoder::{decode_element, Decoded};
pub use planner::{
    oldest_start, plan_windows, split_span, until_just_after_a_second, Window, MAX_WINDOW,
};
pub use reader::{BlobReader, Chunk, InvalidElement, ReadError};
pub use splitter::{ArraySplitter, SplitError};
