//! The one integration-test binary: black-box tests of the built `autosd`.
mod common;
mod docker;
mod generic;
