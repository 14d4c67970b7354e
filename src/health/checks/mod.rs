//! Built-in checks, each behind its cargo feature.
