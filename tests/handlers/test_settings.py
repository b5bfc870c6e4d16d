"""The function's configuration from its environment (``handlers.settings``)."""

from __future__ import annotations

import pytest

from handlers.settings import SettingsError, load_settings


def test_settings_from_the_environment():
    env = {"TABLE_NAME": "t", "DLQ_URL": "https://q", "AWS_REGION": "eu-west-1", "RECORD_TTL_DAYS": "30",
           "MAX_OBJECT_BYTES": "1000", "MAX_DECOMPRESSION_RATIO": "7"}
    config = load_settings(env)
    assert (config.table_name, config.region, config.record_ttl_days, config.max_object_bytes,
            config.max_decompression_ratio, config.write_concurrency) == ("t", "eu-west-1", 30, 1000, 7, 4)
    for broken in ({**env, "TABLE_NAME": ""}, {**env, "RECORD_TTL_DAYS": "x"}, {**env, "WRITE_CONCURRENCY": "-1"},
                   {k: v for k, v in env.items() if k != "AWS_REGION"}):
        with pytest.raises(SettingsError):
            load_settings(broken)
