"""`totruong run` with the Telegram channel's overall limit (30 messages per second) raised out of
reach, for the benchmarks that send replies to a fake Bot API (which has no flood limit): what is
measured is then what the code costs, not the limit. Run from the checkout whose code should run
(its folder as the working directory): `python <this file> run --port N`.
"""

from __future__ import annotations

import importlib
import os
import sys

UNLIMITED = 1_000_000.0  # messages per second: the limiter stays in the path but never waits


def main() -> None:
    sys.path[0] = os.getcwd()  # that checkout's packages, not this script's folder
    # Where the channel lives: bot/channels/telegram/channel.py now, bot/telegram.py before.
    for name in ("bot.channels.telegram.channel", "bot.telegram"):
        try:
            module = importlib.import_module(name)
        except ImportError:
            continue
        module.TelegramChannel.__init__.__kwdefaults__["overall_rate"] = UNLIMITED
        break
    else:
        sys.exit("serve_unlimited: no TelegramChannel found in this checkout")
    from bot.cli import main as cli

    sys.argv = ["totruong", *sys.argv[1:]]
    cli()


if __name__ == "__main__":
    main()
