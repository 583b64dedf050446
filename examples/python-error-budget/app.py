"""error-budget: a Regent breaker condition written in Python.

Trips the breaker when the window's error rate (failed / executed) is above
`max_error_rate`. A window in which no command was executed has no error rate
and does not trip: there is no budget to spend without traffic.

Built into a WebAssembly component with componentize-py against the
`breaker-condition` world of regent:policy@0.2.0 (see build.sh). The names
below come from the bindings componentize-py generates for that world:

- the world is the `WitWorld` protocol in `wit_world`; this module must
  define a class of that name implementing it;
- records and enums of the `types` interface live in
  `wit_world.imports.types` (`PluginInfo`, `MetricsWindow`,
  `BreakerVerdict`, `PluginKind.BREAKER_CONDITION`, ...), with kebab-case
  fields in snake_case and `option<T>` as `Optional[T]` (None for none);
- a `result<T, string>` export returns T on success and raises
  `componentize_py_types.Err("message")` for the error case;
- the imported `log` interface is `wit_world.imports.log`.
"""

import json
import math

from componentize_py_types import Err

import wit_world
from wit_world.imports import log, types

NAME = "error-budget"
VERSION = "0.1.0"
SUMMARY = "trips when the window's error rate is above max_error_rate (default 5%)"

DEFAULT_MAX_ERROR_RATE = 0.05
KNOWN_PARAMS = {"max_error_rate"}


def parse_params(params: str) -> float:
    """Returns max_error_rate from the JSON params, or raises Err."""
    try:
        table = json.loads(params)
    except ValueError as e:
        raise Err(f"params are not valid JSON: {e}")
    if not isinstance(table, dict):
        raise Err(f"params must be a JSON object, got {type(table).__name__}")
    unknown = sorted(set(table) - KNOWN_PARAMS)
    if unknown:
        raise Err(
            f"unknown param(s) {', '.join(unknown)}; the only param is `max_error_rate`"
        )
    value = table.get("max_error_rate", DEFAULT_MAX_ERROR_RATE)
    # bool is a subclass of int in Python: `true` is not a rate.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Err(f"`max_error_rate` must be a number, got {json.dumps(value)}")
    if math.isnan(value) or not 0.0 <= value <= 1.0:
        raise Err(
            f"`max_error_rate` is a rate and must be between 0 and 1, got {json.dumps(value)}"
        )
    return float(value)


class WitWorld(wit_world.WitWorld):
    def describe(self) -> types.PluginInfo:
        return types.PluginInfo(
            name=NAME,
            version=VERSION,
            kind=types.PluginKind.BREAKER_CONDITION,
            summary=SUMMARY,
        )

    def validate_params(self, params: str) -> None:
        parse_params(params)

    def evaluate(self, window: types.MetricsWindow, params: str) -> types.BreakerVerdict:
        max_rate = parse_params(params)
        rate = window.metrics.error_rate
        if rate is None:
            verdict = types.BreakerVerdict(
                tripped=False, observed=None, reason="errorRate has no data"
            )
        elif rate > max_rate:
            verdict = types.BreakerVerdict(
                tripped=True,
                observed=rate,
                reason=f"errorRate {rate:.4f} > {max_rate:g} (error budget exhausted)",
            )
        else:
            verdict = types.BreakerVerdict(
                tripped=False,
                observed=rate,
                reason=f"errorRate {rate:.4f} <= {max_rate:g} (within error budget)",
            )
        log.log(
            log.Level.DEBUG,
            f"errorRate={rate} failures={window.failures} max_error_rate={max_rate:g} tripped={verdict.tripped}",
        )
        return verdict
