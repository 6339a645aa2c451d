"""People's accounts for the web pages (users, passwords, sessions) and the operations log (操作日志).
API tokens for machines stay in alerting/tokens.py."""
