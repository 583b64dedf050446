"""Test fixture: a breaker condition that tries every door WASI has and
reports, as JSON in its reason, what it could reach. Regent links WASI with
a context that grants nothing, so every attempt must fail or see nothing."""

import json
import os
import sys
import time

import wit_world
from wit_world.imports import types


def attempt(action):
    try:
        return {"ok": True, "value": action()}
    except BaseException as e:  # the point is to catch whatever WASI raises
        return {"ok": False, "error": type(e).__name__}


def connect():
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(1)
    s.connect(("127.0.0.1", 4007))
    return "connected"


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="sandbox-probe",
            version="0.1.0",
            kind=types.PluginKind.BREAKER_CONDITION,
            summary="reports what the WASI sandbox lets it reach",
        )

    def validate_params(self, params: str) -> None:
        return None

    def evaluate(self, window: types.MetricsWindow, params: str) -> types.BreakerVerdict:
        report = {
            "read_file": attempt(lambda: open("/etc/hostname").read()),
            "list_root": attempt(lambda: os.listdir("/")),
            "environ": attempt(lambda: dict(os.environ)),
            "connect": attempt(connect),
            "wall_clock": attempt(lambda: time.time()),
            "urandom": attempt(lambda: os.urandom(8).hex()),
            # Must return at once: stdin is closed, not a stream to wait on.
            "stdin": attempt(lambda: sys.stdin.read()),
        }
        return types.BreakerVerdict(tripped=False, observed=None, reason=json.dumps(report))
