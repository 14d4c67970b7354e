//! One module per subcommand: its flags and what it does.

pub(crate) mod compare;
pub(crate) mod get;
pub(crate) mod load;
pub(crate) mod probe;
pub(crate) mod rules;
pub(crate) mod watch;
