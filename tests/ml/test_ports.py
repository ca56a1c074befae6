"""Local servers' ports (pipelines/mlflow_server.free_port) come from below the kernel's ephemeral range, where no
outgoing connection takes its local port: a server that binds its port seconds later still finds it free."""

from __future__ import annotations

import itertools
import socket

from pipelines import mlflow_server


def test_free_ports_are_below_the_ephemeral_range_and_bindable() -> None:
    ephemeral = int(mlflow_server.EPHEMERAL_RANGE.read_text().split()[0])
    ports = {mlflow_server.free_port() for _ in range(20)}
    assert all(mlflow_server.SERVER_PORTS_FROM <= port < max(ephemeral, mlflow_server.SERVER_PORTS_FROM + 1000) for port in ports), ports
    assert len(ports) > 1  # drawn, not one fixed port for every caller
    for port in ports:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", port))


def test_a_taken_port_is_never_handed_out(monkeypatch) -> None:
    """A drawn port that is taken (bind refuses) is drawn again, not returned."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        taken = held.getsockname()[1]
        draws = itertools.chain([taken, taken], itertools.count(mlflow_server.SERVER_PORTS_FROM))
        monkeypatch.setattr(mlflow_server.random, "randrange", lambda *_: next(draws))
        port = mlflow_server.free_port()
        assert port != taken and next(draws) > port
