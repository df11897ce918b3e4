//! The binary's commands: argument structs (clap derive) and the glue between them and
//! the library. No detection logic lives here.

pub mod analyze;
pub mod datagen;
pub mod detector_flags;
pub mod failure;
pub mod heap;
pub mod interrupt;
pub mod paths;
pub mod watch;
