"""tooling/external_secret.py renders the program's ExternalSecret templates as ESO 2.9.0's engine v2 does."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest

from infra import credentials
from tooling import external_secret

VALUES = {"pw": 'a\\b%c d/e:f"g'}


def test_each_filter_the_program_writes_renders_as_go_and_sprig_do() -> None:
    """urlquery is url.QueryEscape (reversible); sprig's replace doubles every backslash and every % in order."""
    assert unquote_plus(external_secret.render_template("u={{.pw | urlquery}}", VALUES)) == f"u={VALUES['pw']}"
    assert external_secret.render_template('{{.pw | replace "\\\\" "\\\\\\\\"}}', VALUES) == 'a\\\\b%c d/e:f"g'
    ini = credentials.ini_escape_template("x%={{.pw}}")
    assert external_secret.render_template(ini, VALUES) == 'x%%=a\\b%%c d/e:f"g'


def test_a_key_the_external_secret_does_not_fetch_is_an_error() -> None:
    """As the operator, a template reading a key spec.data does not fetch fails, naming the key."""
    spec = credentials.external_secret_spec("s", {"password": "{{.pw}}"}, {"pw": credentials.RemoteRef("arn")})
    assert external_secret.render(spec, lambda key: key.upper()) == {"password": "PW"}
    spec["data"] = []
    with pytest.raises(ValueError, match=r"reads \.pw, which the ExternalSecret's spec.data does not fetch"):
        external_secret.render(spec)


def test_an_action_the_program_does_not_write_is_refused() -> None:
    """A function or action outside the program's shape is refused, not rendered wrongly."""
    with pytest.raises(ValueError, match="template function `b64enc`"):
        external_secret.render_template("{{.pw | b64enc}}", VALUES)
    with pytest.raises(ValueError, match="template action"):
        external_secret.render_template("{{ index . \"pw\" }}", VALUES)


def test_secret_data_reads_the_secret_or_the_external_secret_that_makes_it() -> None:
    """A Secret's data is its stringData, or its ExternalSecret's rendered template; none or two is an error."""
    synced = {"kind": "ExternalSecret", "metadata": {"name": "s"},
              "spec": credentials.external_secret_spec("s", {"password": "{{.pw}}"}, {"pw": credentials.RemoteRef("arn")})}
    plain = {"kind": "Secret", "metadata": {"name": "t"}, "stringData": {"password": "x"}}
    assert external_secret.secret_data([synced, plain], "s") == {"password": external_secret.stand_in("pw")}
    assert external_secret.secret_data([synced, plain], "t") == {"password": "x"}
    with pytest.raises(ValueError, match="2 Secrets or ExternalSecrets make Secret s"):
        external_secret.secret_data([synced, synced], "s")
