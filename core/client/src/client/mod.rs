//! The trainer's side: connect (auto-starting the service), init or attach a
//! run, log into this process's lane, finish.

pub mod autostart;
pub mod run;
