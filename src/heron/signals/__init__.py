"""Signal detection: trace rules and the signals they raise, issues that group signals,
alerts on aggregates (threshold and anomaly), backtests, and the channels that notify.
See docs/signals.md."""
