"""deletion-jobs bot: the command line. Arguments → settings → serve | scheduler | digest | demo.

    python bot.py                 Slack app (Socket Mode if SLACK_APP_TOKEN is set, else HTTP on $PORT)
                                  plus the digest scheduler unless RUN_SCHEDULER=false
    python bot.py scheduler       only the digest scheduler (the Procfile's clock process)
    python bot.py digest          one digest now: [--channel C] [--dry-run]
    python bot.py export          deletion jobs as a CSV file for auditors: [--dataset-group G] [--status S]
                                  [--since YYYY-MM-DD] [--until YYYY-MM-DD] --out FILE
    python bot.py demo            a local console demo: no Slack or AWS account needed

The app and its services are built in app_factory.py; the processes live in runtime/.
"""

from __future__ import annotations

import argparse
import sys

from config import load_settings
from config.logging import configure_logging
from runtime.startup import StartupFailed, startup_errors_reported


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bot.py", description="deletion-jobs bot for Slack")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="run the Slack app (the default)")
    sub.add_parser("scheduler", help="run only the digest scheduler (the Procfile's clock process)")
    digest = sub.add_parser("digest", help="post one digest now, for every subscription, and exit")
    digest.add_argument("--channel", metavar="C", help="only this channel's subscription (a channel id)")
    digest.add_argument("--dry-run", action="store_true",
                        help="print the messages as JSON instead of posting them; marks nothing as reported")
    export = sub.add_parser("export", help="write deletion jobs to a CSV file for auditors (as /deletion-jobs export)")
    export.add_argument("--dataset-group", metavar="G", help="a dataset group name or ARN (default: every one)")
    export.add_argument("--status", metavar="S", help="PENDING, IN_PROGRESS, COMPLETED or FAILED (default: any)")
    export.add_argument("--since", metavar="D", help="jobs created on or after this UTC date, YYYY-MM-DD"
                        " (default: 30 days before --until, or before today)")
    export.add_argument("--until", metavar="D", help="jobs created before this UTC date, YYYY-MM-DD (default: now)")
    export.add_argument("--out", metavar="FILE", required=True, help="where to write the CSV file")
    demo = sub.add_parser("demo", help="local console demo: the real bot, a Personalize emulator, no accounts")
    demo.add_argument("--script", nargs="*", metavar="INPUT",
                      help='inputs to run in order, then exit (e.g. "/deletion-jobs failed" next)')
    demo.add_argument("--verbose", action="store_true", help="show the bot's INFO log (default: warnings only)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.command == "demo":
        # Before settings: the demo makes its own, so it runs with no Slack or AWS account configured.
        from devtools.demo import run_demo

        return run_demo(args.script, verbose=args.verbose)
    try:
        with startup_errors_reported():
            # An export only reads AWS: people without Slack can run it with no Slack secrets set.
            settings = load_settings(slack=False) if args.command == "export" else load_settings()
            configure_logging(settings.log_level)
            return run_command(args, settings)
    except StartupFailed as failed:
        return failed.exit_code
    except KeyboardInterrupt:
        return 0


def run_command(args: argparse.Namespace, settings) -> int:
    from app_factory import build_export_command_line, build_services
    from runtime.digest_once import run_digest_once
    from runtime.export_once import run_export_once
    from runtime.serve import run_bot, run_scheduler_process

    if args.command == "scheduler":
        return run_scheduler_process(settings)
    if args.command == "export":
        service, audit = build_export_command_line(settings)
        return run_export_once(service, audit, dataset_group=args.dataset_group, status=args.status,
                               since=args.since, until=args.until, out_path=args.out)
    if args.command == "digest":
        return run_digest_once(build_services(settings).digest, channel=args.channel, dry_run=args.dry_run)
    return run_bot(settings)


if __name__ == "__main__":
    sys.exit(main())
