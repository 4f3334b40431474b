//! `autosd preauth …`: parsing and rendering for keys and grants.
use crate::context::Context;
use crate::error::Result;
use crate::output::Printer;
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct PreauthArgs {
    #[command(subcommand)]
    pub command: PreauthCommand,
}

#[derive(Debug, Subcommand)]
pub enum PreauthCommand {}

pub fn run(_ctx: &Context, _printer: &Printer, args: PreauthArgs) -> Result<()> {
    match args.command {}
}
