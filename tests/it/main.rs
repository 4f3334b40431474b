//! The one integration-test binary: black-box tests of the built `autosd`.
mod audit;
mod common;
mod docker;
mod gate;
mod generic;
mod preauth;
mod release;
mod store;
