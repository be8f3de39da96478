"""One module per `jaxinterest` subcommand; see jaxinterest/cli.py."""
