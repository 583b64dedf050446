"""Test fixture: a breaker condition that waits in host calls. Its rule's
condition names the wait: `sleep` (time.sleep(30)), `select` (a 30 s poll),
`busy-poll` (zero-timeout polls, forever), `sleep-zero` (a wait that is over
at once) and `stdin` (a blocking read of stdin); anything else returns at
once. Its limit is 2 s: none of these may hold an evaluation longer."""

import json
import select
import sys
import time

import wit_world
from wit_world.imports import types


def wait(mode):
    if mode == "sleep":
        time.sleep(30)
    elif mode == "select":
        select.select([], [], [], 30)
    elif mode == "busy-poll":
        while True:
            select.select([], [], [], 0)
    elif mode == "sleep-zero":
        time.sleep(0)
    elif mode == "stdin":
        return sys.stdin.read()
    return mode


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.PluginInfo:
        return types.PluginInfo(
            name="hostile-wait",
            version="0.1.0",
            kind=types.PluginKind.BREAKER_CONDITION,
            summary="waits in host calls: sleeps, polls, reads stdin",
        )

    def validate_params(self, params: str) -> None:
        return None

    def evaluate(self, window: types.MetricsWindow, params: str) -> types.BreakerVerdict:
        mode = json.loads(params).get("condition", "")
        return types.BreakerVerdict(tripped=False, observed=None, reason=f"returned {wait(mode)!r}")
