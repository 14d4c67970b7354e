//! Real peers for the integration tests: an OTLP receiver and the academy example as a process.
#![allow(dead_code)]

pub mod academy;
pub mod otlp;
