//! The one integration-test binary: black-box tests of the built `autosd`.
#![allow(clippy::disallowed_methods)] // test and bench code drives processes, env and clocks directly
mod action_act;
mod audit;
mod common;
mod docker;
mod factory;
mod forgery;
mod gate;
mod generic;
mod github_api;
mod heal;
mod kubernetes;
mod lint;
mod lint_expr;
mod lint_security;
mod patch;
mod preauth;
mod release;
mod store;
mod swarm;
