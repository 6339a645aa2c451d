"""The composition root and the processes of `alerting run`: service, runner, worker, the command."""
