//! The one integration-test binary: black-box tests of the built `autosd`.
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
mod lint;
mod preauth;
mod release;
mod store;
