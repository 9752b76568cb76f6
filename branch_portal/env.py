"""Strict helpers for reading settings from the environment."""

import os
import re
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value in (None, "") else value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    if value.lower() == "true":
        return True
    if value.lower() == "false":
        return False
    # A typo such as DEBUG=ture must not silently mean False in production.
    raise ImproperlyConfigured(f"{name} must be 'true' or 'false', not {value!r}")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value in (None, ""):
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from exc


def env_secret(name: str) -> str | None:
    """Read NAME, or the contents of the file named by NAME_FILE (Docker secrets)."""
    path = env_str(f"{name}_FILE")
    if path:
        # A missing secret must say which setting points where, not end in a traceback.
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {reason}.") from None
        except UnicodeDecodeError:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} is not a text file.") from None
    return env_str(name)


# Keys that are public: Django's own warning's prefix, this project's development key, the
# placeholder of .env.example and the words people type when they mean "fill in later".
DEVELOPMENT_SECRET_KEY = "development-only-not-secret"  # noqa: S105
EXAMPLE_SECRET_KEY = "replace-me-with-50-or-more-random-characters"  # noqa: S105
_KNOWN_SECRET_KEYS = {"changeme", "secret", "secretkey", "password", "django", "test"}
_PLACEHOLDER_WORDS = ("changeme", "replaceme", "insecure", "notsecret", "placeholder", "example")
SECRET_KEY_MIN_LENGTH = 50  # as Django's check --deploy (security.W009)
SECRET_KEY_MIN_UNIQUE = 5


def secret_key_weakness(key: str) -> str | None:
    """Why this key must not sign production sessions, or None when it may."""
    folded = re.sub(r"[^a-z0-9]", "", key.lower())
    if key.startswith("django-insecure-"):
        return "is a Django development key (it starts with 'django-insecure-')"
    if key in (DEVELOPMENT_SECRET_KEY, EXAMPLE_SECRET_KEY) or folded in _KNOWN_SECRET_KEYS:
        return "is a well-known placeholder"
    if any(word in folded for word in _PLACEHOLDER_WORDS):
        return "contains a placeholder word (changeme, example, insecure…)"
    if len(set(key)) < SECRET_KEY_MIN_UNIQUE:
        return f"has fewer than {SECRET_KEY_MIN_UNIQUE} different characters"
    if len(key) < SECRET_KEY_MIN_LENGTH:
        return f"is too short ({len(key)} characters; at least {SECRET_KEY_MIN_LENGTH})"
    return None


def env_list(name: str, default: list[str]) -> list[str]:
    value = env_str(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]
