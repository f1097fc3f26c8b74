"""Purchase, power and rental cost. Prices are dated snapshots from gpu_specs.csv (price_as_of,
cloud_as_of columns) and always user-overridable; every derived figure is plain arithmetic on them."""

from __future__ import annotations

import numpy as np

# Average US residential electricity price, 2024: 16.5 cents/kWh (US EIA, Electric Power Monthly,
# table 5.3, 2025-02). Override with --electricity.
DEFAULT_USD_PER_KWH = 0.165
HOURS_PER_MONTH = 730.0  # 8,760 h / 12 (definition)
HOURS_PER_YEAR = 8760.0  # definition
# Years a purchase is written off over (straight line): a user choice, not a measured fact; 3 years is the
# warranty span of datacenter GPUs and a common depreciation horizon. Override with --years.
DEFAULT_YEARS = 3.0
# Share of TDP an inference GPU draws on average while serving (decode is memory-bound): ~60-70% in
# nvidia-smi traces of llama.cpp / vLLM decode (provisional; issue 8 refines with measurements).
POWER_UTILIZATION = 0.65


def purchase_usd(street_usd, launch_usd, used_usd, num_gpus, *, used: bool = False):
    """Upfront USD for ``num_gpus`` cards: the used price with ``used``, else street, else launch."""
    street = np.asarray(street_usd, dtype=float)
    launch = np.asarray(launch_usd, dtype=float)
    unit = np.where(np.isnan(street), launch, street)
    if used:
        unit = np.asarray(used_usd, dtype=float)
    return unit * np.asarray(num_gpus, dtype=float)


def power_usd_per_hour(tdp_w, num_gpus, usd_per_kwh: float = DEFAULT_USD_PER_KWH,
                       utilization: float = POWER_UTILIZATION):
    return np.asarray(tdp_w, dtype=float) * np.asarray(num_gpus, dtype=float) * utilization / 1000.0 * usd_per_kwh


def rent_usd_per_hour(cloud_usd_per_hour, num_gpus, gpus_per_instance=None, cloud_max_gpus=None):
    """num_gpus x the per-GPU price; NaN (not rentable at that price) where one instance would need more
    GPUs than the provider puts in one (``cloud_max_gpus``; NaN = no limit stated)."""
    rent = np.asarray(cloud_usd_per_hour, dtype=float) * np.asarray(num_gpus, dtype=float)
    if cloud_max_gpus is None:
        return rent
    per_instance = np.asarray(num_gpus if gpus_per_instance is None else gpus_per_instance, dtype=float)
    limit = np.asarray(cloud_max_gpus, dtype=float)
    return np.where(np.isnan(limit) | (per_instance <= limit), rent, np.nan)


def amortised_usd_per_hour(upfront_usd, years: float, duty: float = 1.0):
    """The purchase spread over the hours it serves: upfront / (years x 8,760 h x duty)."""
    return np.asarray(upfront_usd, dtype=float) / (years * HOURS_PER_YEAR * duty)


def usd_per_million_tokens(usd_per_hour, decode_tps):
    """Cost of a million output tokens at the aggregate decode rate reached (full utilisation)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.asarray(usd_per_hour, dtype=float) / (np.asarray(decode_tps, dtype=float) * 3600.0) * 1e6


def breakeven_months(upfront_usd, rent_per_hour, power_per_hour, duty: float = 1.0):
    """Months of renting that cost as much as buying (renting minus the power a bought card burns)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        saving = (np.asarray(rent_per_hour, dtype=float) - np.asarray(power_per_hour, dtype=float)) * HOURS_PER_MONTH * duty
        months = np.asarray(upfront_usd, dtype=float) / saving
    return np.where(saving > 0, months, np.nan)
