"""The Settings tab: the effective configuration."""

from tokensweeper import config as config_module
from tokensweeper import paths
from tokensweeper.policy import (
    BUILTIN_RULES,
)
from tokensweeper.usage import load_usage


def settings(ctx):
    try:
        cfg, error = config_module.load(), None
    except config_module.ConfigError as problem:
        cfg, error = None, problem
    usage = load_usage()
    return ctx.page("settings.html", "Settings", "settings", cfg=cfg, error=error,
                    usage=usage, now=ctx.now, config_path=paths.config_file(),
                    state_dir=paths.state_dir(), whmapi1=paths.whmapi1(),
                    usage_log=paths.api_tokens_log(),
                    builtin_rules=[rule.label for rule in BUILTIN_RULES])
