//! The one integration-test binary: black-box tests of the built `autosd`.
mod common;
mod lint;
mod lint_expr;
mod lint_security;
