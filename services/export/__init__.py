"""CSV export of deletion jobs for auditors: `/deletion-jobs export` and `python bot.py export`.

`csv_export` writes the file (columns, injection-safe cells, SHA-256), `service` reads the jobs and their Describe
details within bounds, `upload` puts the file in the requester's direct messages with the bot.
"""
