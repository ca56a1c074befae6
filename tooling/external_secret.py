"""An ExternalSecret's Secret as the External Secrets Operator (2.9.0, template engine v2) writes it, offline.

The operator fetches each ``spec.data`` entry's remote value under its ``secretKey``, then executes every value of
``spec.target.template.data`` as a Go text/template over those values (a key the template reads that ``spec.data``
does not fetch is an error, not an empty string). The program's templates (infra/credentials.py) use one shape of
action only, ``{{.key}}`` with an optional pipeline of Go's builtin ``urlquery`` (url.QueryEscape) and sprig's
``replace OLD NEW`` (every occurrence; the piped value last); any other action is refused, naming it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from urllib.parse import quote_plus

KIND = "ExternalSecret"
_ACTION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_FIELD = re.compile(r"^\.(\w+)$")
_ARGUMENT = re.compile(r'"(?:[^"\\]|\\.)*"|\S+')


def stand_in(key: str) -> str:
    """A test value for credential ``key`` holding what URIs, ini files and quoted strings must escape: ``%``, ``@``'s
    escape, ``:``, ``/`` and a backslash (RDS's generated passwords may hold one)."""
    return f"p%40ss:w/rd\\%{key}"


def _go_string(literal: str) -> str:
    if not (literal.startswith('"') and literal.endswith('"')):
        raise ValueError(f"template argument {literal} is not a Go string literal: quote it")
    return json.loads(literal)


def _apply(function: str, value: str) -> str:
    name, *args = _ARGUMENT.findall(function)
    if name == "urlquery" and not args:
        return quote_plus(value)
    if name == "replace" and len(args) == 2:
        old, new = (_go_string(arg) for arg in args)
        return value.replace(old, new)
    raise ValueError(f"template function `{function}` is not one the program uses (urlquery, replace OLD NEW): render it by hand")


def render_template(template: str, values: Mapping[str, str]) -> str:
    """``template`` executed over ``values`` as the operator does."""
    def action(match: re.Match) -> str:
        field, *functions = (part.strip() for part in match.group(1).split("|"))
        found = _FIELD.match(field)
        if not found:
            raise ValueError(f"template action {match.group(0)} is not {{{{.key | function ...}}}}: the program writes no other")
        if found.group(1) not in values:
            raise ValueError(f"template reads .{found.group(1)}, which the ExternalSecret's spec.data does not fetch "
                             f"(it fetches {sorted(values)})")
        value = values[found.group(1)]
        for function in functions:
            value = _apply(function, value)
        return value

    return _ACTION.sub(action, template)


def render(external_secret: Mapping, value: Callable[[str], str] = stand_in) -> dict[str, str]:
    """The string data of the Secret ``external_secret`` (its manifest, or its spec) makes, each fetched ``secretKey``
    standing for ``value(secretKey)``."""
    spec = external_secret.get("spec", external_secret)
    values = {entry["secretKey"]: value(entry["secretKey"]) for entry in spec.get("data", [])}
    return {key: render_template(template, values) for key, template in spec["target"]["template"]["data"].items()}


def secret_data(objects: Iterable[Mapping], name: str, value: Callable[[str], str] = stand_in) -> dict[str, str]:
    """Secret ``name``'s string data as the cluster gets it, from one namespace's rendered ``objects``: the program's
    Secret, or the one the ExternalSecret whose target it is makes (AWS stacks)."""
    found = [o for o in objects if (o.get("kind") == "Secret" and o["metadata"]["name"] == name)
             or (o.get("kind") == KIND and o["spec"]["target"]["name"] == name)]
    if len(found) != 1:
        raise ValueError(f"{len(found)} Secrets or ExternalSecrets make Secret {name}; expected one")
    return dict(found[0]["stringData"]) if found[0]["kind"] == "Secret" else render(found[0], value)
