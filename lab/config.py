"""The config mechanism's shared error: what every entry point raises for a bad config or flag.

``ConfigError`` lives at the bottom layer so that every package's config (agents' run config,
the supervised trainer's, evaluate's, ``envs.data``'s) can raise the same type, and
``lab.cli.run_cli`` can turn it into one ``error:`` line with exit code 2.
"""

from __future__ import annotations


class ConfigError(ValueError):
    """A config file or flag is invalid; the message names the key, the source and the fix."""


def check_choice(flag: str, value: object, valid: object, source: str = "the command line") -> None:
    """Raise a ConfigError naming ``flag``, the bad ``value``, its ``source`` and the valid ones."""
    choices = sorted(str(v) for v in valid)  # type: ignore[attr-defined]
    if str(value) not in choices:
        raise ConfigError(f"unknown {flag} {value!r} (from {source}); valid: {', '.join(choices)}")
