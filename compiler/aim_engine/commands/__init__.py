"""One module per `aim-engine` subcommand: argument parsing and printing only; the work is in the library."""
