"""From Pulumi's flat config map to :class:`Settings`: decoding, one-line errors naming the key, stack checks."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

from pydantic import SecretStr, ValidationError

from infra.config.base import CONFIG_NAMESPACES, PROJECT, ConfigError, is_prod_stack
from infra.config.observability import CREDENTIALS_KEY, check_secret_credentials, clear_credential
from infra.config.settings import FLAT_KEYS, GROUPS, Settings
from infra.config.sso import SECRET_KEYS


def _key_path(location: tuple[Any, ...]) -> str:
    path = ""
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else ("." if path else "") + str(part)
    return path


def _describe(error: Mapping[str, Any], raw: Mapping[str, Any]) -> str:
    location = tuple(error["loc"])
    field = (error.get("ctx") or {}).get("field")
    if field:
        location = (*location, field)
    if len(location) >= 2 and (location[0], location[1]) in FLAT_KEYS:
        # A group's field, named as the stack file spells it (serving.minReplicas -> servingMinReplicas).
        location = (FLAT_KEYS[(location[0], location[1])], *location[2:])
    key = f"{PROJECT}:{_key_path(location)}"
    if error["type"] == "extra_forbidden":
        return f"{key}: unknown key; check the spelling against Pulumi.yaml's config section"
    if error["type"] == "missing":
        return f"{key}: missing; declare it in Pulumi.yaml or set it in the stack file"
    # A secret's value is never echoed, not even in an error; nor is anything that looks like a credential.
    secret = location[:1] and location[0] in (*SECRET_KEYS, CREDENTIALS_KEY)
    value = '"[secret]"' if secret else json.dumps(_masked(_lookup(raw, location)), default=str)
    if len(value) > 100:
        value = value[:97] + "..."
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{key} = {value}: {message}"


def _masked(value: Any) -> Any:
    """``value`` with every string that looks like a credential replaced (a credential in clear is not echoed)."""
    if isinstance(value, Mapping):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_masked(item) for item in value]
    return "[credential]" if isinstance(value, str) and clear_credential(value) else value


def _lookup(raw: Any, location: tuple[Any, ...]) -> Any:
    value = raw
    for part in location:
        if isinstance(value, Mapping):
            value = value.get(part)
        elif isinstance(value, (list, tuple)) and isinstance(part, int) and part < len(value):
            value = value[part]
        else:
            return None
    return value


def parse_settings(raw: Mapping[str, Any]) -> Settings:
    """Validate ``raw`` (camelCase keys, parsed values) into :class:`Settings` or raise :class:`ConfigError`."""
    try:
        return Settings.model_validate(dict(raw))
    except ValidationError as error:
        problems = [_describe(problem, raw) for problem in error.errors()]
        raise ConfigError("invalid stack config: " + "; ".join(problems)) from None


# Every key a stack file may set, as it spells it (Pulumi.yaml declares exactly these).
CONFIG_KEYS = frozenset(
    [field.alias or name for name, field in Settings.model_fields.items() if name not in GROUPS]
    + [key for keys in GROUPS.values() for key in keys]
)


def _is_string(annotation: Any) -> bool:
    return annotation in (str, SecretStr) or getattr(annotation, "__origin__", None) is Literal


# Keys whose values stay strings (a version "1.35" is not a number), as the stack files spell them.
_STRING_KEYS = frozenset(
    [field.alias or name for name, field in Settings.model_fields.items() if _is_string(field.annotation)]
    + [key for group, keys in GROUPS.items() for key, name in keys.items()
       if _is_string(Settings.model_fields[group].annotation.model_fields[name].annotation)]
)


def check_stack(stack: str, settings: Settings) -> None:
    """A stack named prod is prod: a prod stack file cannot claim another environment (and so escape prod's rules)."""
    if is_prod_stack(stack) and settings.environment != "prod":
        raise ConfigError(f"{PROJECT}:environment = {settings.environment!r}: stack {stack} is a prod stack; set environment: prod")


def check_secrets(flat: Mapping[str, str], is_secret: Callable[[str], bool]) -> None:
    """Keys that hold credentials (SSO's SECRET_KEYS, alertCredentials) are set only as Pulumi secrets, never in clear
    text in a stack file; ``is_secret`` tells which keys the CLI marks secret."""
    for key in SECRET_KEYS:
        full_key = f"{PROJECT}:{key}"
        if flat.get(full_key) and not is_secret(full_key):
            raise ConfigError(f"{full_key}: set in clear text; store it encrypted with `pulumi config set --secret {key} <value>` "
                              "(the stack file then holds `secure: ...`), or name an existing Secret instead")
    credentials = f"{PROJECT}:{CREDENTIALS_KEY}"
    if flat.get(credentials):
        check_secret_credentials(decode_config({credentials: flat[credentials]}), is_secret(credentials))


def check_namespaces(keys: Iterable[str]) -> None:
    """Refuse config keys in a namespace nothing reads (a misspelt ``mlplatform:``), naming the likely intent."""
    for full_key in keys:
        namespace, _, key = full_key.partition(":")
        if namespace in CONFIG_NAMESPACES:
            continue
        close = difflib.get_close_matches(namespace, sorted(CONFIG_NAMESPACES), n=1)
        hint = f"did you mean {close[0]}:{key}?" if close else f"the namespaces read are {', '.join(sorted(CONFIG_NAMESPACES))}"
        raise ConfigError(f"{full_key}: unknown config namespace '{namespace}', nothing would read this key; {hint}")


def decode_config(flat: Mapping[str, str]) -> dict[str, Any]:
    """Turn Pulumi's ``{"mlplatform:key": "<string or JSON>"}`` map into ``{"key": value}``."""
    check_namespaces(flat)
    decoded: dict[str, Any] = {}
    for full_key, text in flat.items():
        namespace, _, key = full_key.partition(":")
        if namespace != PROJECT:
            continue
        if key in _STRING_KEYS or not isinstance(text, str):
            decoded[key] = text  # "1.35" stays a version string, not a number
            continue
        try:
            decoded[key] = json.loads(text)
        except json.JSONDecodeError:
            decoded[key] = text
    return decoded


def load() -> Settings:
    """Read the running stack's configuration (inside a Pulumi program)."""
    import pulumi
    import pulumi.runtime.config

    flat = pulumi.runtime.config.CONFIG.get()
    # The CLI hands the program decrypted values and, apart, the keys that were set with --secret.
    check_secrets(flat, pulumi.runtime.config.is_config_secret)
    settings = parse_settings(decode_config(flat))
    check_stack(pulumi.get_stack(), settings)
    return settings
