"""The Compose stack's secrets (docker-compose.airflow.yml): Fernet key, JWT secret, api secret key.

Run by the `airflow-init` job before anything else: `python -m adctr.local.compose_secrets DIR`.
Each secret is one file in DIR (the shared `airflow-secrets` volume), which every component
reads through Airflow's `AIRFLOW__<SECTION>__<KEY>_CMD` (`cat DIR/<name>`), so all of them use
the same value. A value given in the init job's environment (AIRFLOW_FERNET_KEY,
AIRFLOW_JWT_SECRET, AIRFLOW_API_SECRET_KEY) is written the first time; an absent one is
generated. A file that exists is never replaced: a changed Fernet key would make the stored
connections and variables unreadable, a changed JWT secret every issued token. A given value that
differs from the stored one stops the job with a message instead.

Files hold the bare value (no newline: Airflow uses a `_CMD`'s output verbatim), mode 0600.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path


class SecretError(RuntimeError):
    """A secret given to the init job is unusable or contradicts the stored one."""


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


def _check_fernet(value: str) -> None:
    from cryptography.fernet import Fernet

    try:
        Fernet(value.encode())
    except ValueError as exc:
        raise SecretError(f"not a Fernet key (32 url-safe base64-encoded bytes): {exc}") from None


def _check_length(minimum: int) -> Callable[[str], None]:
    def check(value: str) -> None:
        if len(value) < minimum:
            raise SecretError(f"shorter than {minimum} characters")

    return check


@dataclass(frozen=True)
class Secret:
    file: str  # name of its file in the secrets directory
    env: str  # the init job's variable that may give it
    generate: Callable[[], str]
    check: Callable[[str], None]


SECRETS = (
    Secret("fernet_key", "AIRFLOW_FERNET_KEY", _fernet_key, _check_fernet),
    # Airflow warns on JWT secrets shorter than the HS512 block; 64 random bytes.
    Secret("jwt_secret", "AIRFLOW_JWT_SECRET", lambda: secrets.token_urlsafe(64), _check_length(32)),
    Secret("api_secret_key", "AIRFLOW_API_SECRET_KEY", lambda: secrets.token_urlsafe(32), _check_length(16)),
)


def _write(path: Path, value: str) -> None:
    """Create `path` holding `value`, readable by its owner only, all at once."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(value)
    os.replace(tmp, path)


def ensure(directory: Path, given: Mapping[str, str]) -> dict[str, str]:
    """Make every secret's file exist in `directory`; returns what was done per file
    (`generated`, `given`, `kept`). Raises SecretError, writing nothing, on a bad given value."""
    directory.mkdir(parents=True, exist_ok=True)
    plan: dict[Secret, str | None] = {}
    for secret in SECRETS:
        path = directory / secret.file
        value = (given.get(secret.env) or "").strip()
        if value:
            try:
                secret.check(value)
            except SecretError as exc:
                raise SecretError(f"{secret.env}: {exc}") from None
        if path.exists():
            stored = path.read_text(encoding="ascii")
            if value and value != stored:
                raise SecretError(
                    f"{secret.env} differs from the {secret.file} already in {directory}. Keeping the "
                    f"stored one (replacing it would make what it protects unreadable). Unset "
                    f"{secret.env}, or delete {path} on purpose to start over with the given value."
                )
            plan[secret] = None
        else:
            plan[secret] = value or None
    done = {}
    for secret, value in plan.items():
        path = directory / secret.file
        if path.exists():
            done[secret.file] = "kept"
        else:
            _write(path, value or secret.generate())
            done[secret.file] = "given" if value else "generated"
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path, help="the shared secrets directory")
    args = parser.parse_args(argv)
    try:
        done = ensure(args.directory, os.environ)
    except SecretError as exc:
        print(f"airflow-init: refusing to start: {exc}", file=sys.stderr)
        return 1
    for name, action in done.items():
        print(f"{args.directory / name}: {action}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
