//! The one integration-test binary: black-box tests of the built `autosd`.
mod audit;
mod common;
mod factory;
mod github_api;
mod action_act;
mod lint;
mod forgery;
mod docker;
mod gate;
mod generic;
mod patch;
mod preauth;
mod release;
mod store;
