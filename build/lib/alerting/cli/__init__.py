"""The `alerting` command's families (tokens, database and policy, the audit log, bulletins): each
module adds its subcommand to the parser and runs it. `alerting.app.main` puts them together."""
