"""Input drift of a served model: its logged requests against the champion's training sample."""
