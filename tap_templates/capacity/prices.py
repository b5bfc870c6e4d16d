"""The price list (``prices.json``, shipped with the package): one file with the region, the date and the AWS
pricing page of every number, and how far each was verified."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PRICES_FILE = Path(__file__).with_name("prices.json")
VERIFIED = ("aws-docs", "secondary", "unverified")


@dataclass(frozen=True)
class Price:
    name: str
    price: float
    per: float
    unit: str
    source: str
    verified: str

    @property
    def each(self) -> float:
        """The price of one unit (one request, one GB-month, ...)."""
        return self.price / self.per


@dataclass(frozen=True)
class PriceList:
    currency: str
    regions: tuple[str, ...]
    date: str
    month_hours: int
    prices: dict[str, Price]

    def __getitem__(self, name: str) -> float:
        return self.prices[name].each

    def unpriced_regions(self, regions: tuple[str, ...]) -> list[str]:
        return [r for r in regions if r not in self.regions]


def parse(data: dict[str, Any]) -> PriceList:
    prices = {}
    for name, entry in data["prices"].items():
        if entry["verified"] not in VERIFIED or not entry["source"].startswith("https://aws.amazon.com/"):
            raise ValueError(f"price {name}: verified must be one of {VERIFIED} and source an aws.amazon.com page")
        prices[name] = Price(name, float(entry["price"]), float(entry["per"]), entry["unit"], entry["source"],
                             entry["verified"])
    return PriceList(data["currency"], tuple(data["regions"]), data["date"], int(data["month_hours"]), prices)


@functools.cache
def load(path: Path = PRICES_FILE) -> PriceList:
    return parse(json.loads(path.read_text(encoding="utf-8")))
