"""`make demo`: the whole ML lifecycle on one machine, with the platform's offline preview."""
