"""Reading a Prometheus scrape (``/metrics`` in the text format) in tests of every level: the
unit tests render the collector themselves, the end-to-end ones fetch it from a ``twistd``."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

#: A scrape: ``{(sample name, sorted label pairs): value}``.
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    """Every sample of a scrape in the text format."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value (fails if it is missing)."""
    return samples[(name, tuple(sorted(labels.items())))]
