"""`--secrets-file FILE`: secret parameter values in dotenv format, kept private as ssh keys are.

# comments and blank lines are ignored
api_token=abc123                 # a parameter's name ...
MLRUN_SECRET_DB_PASSWORD="p w"   # ... or the variable it would come from
export other='single quoted'
"""

from __future__ import annotations

import re
import stat
from pathlib import Path

from mlrun_cli.errors import UsageError

_LINE = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_.\-]*)\s*=\s*(.*?)\s*$")
_PREFIX = "MLRUN_SECRET_"


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value.split(" #", 1)[0].rstrip()


def load_secrets_file(path: Path) -> dict[str, str]:
    """Values by parameter name (and by MLRUN_SECRET_ variable name, upper-cased)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"--secrets-file: cannot read {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"--secrets-file: {path} is not UTF-8 text") from None
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise UsageError(
            f"--secrets-file: permissions {stat.S_IMODE(mode):04o} for {path} are too open",
            hint=f"others must not read it: chmod 600 {path}",
        )
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:  # the line itself is never shown: it holds a secret
            raise UsageError(f"--secrets-file: {path}:{number}: expected NAME=VALUE")
        name, value = match.group(1), _unquote(match.group(2))
        values[name] = value
        if name.upper().startswith(_PREFIX):
            values[name.upper()] = value
    return values
