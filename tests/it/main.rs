//! The one integration-test binary: black-box tests of the built `autosd`.
mod audit;
mod common;
mod forgery;
mod gate;
mod preauth;
mod store;
