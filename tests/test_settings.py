import datetime as dt

import dask.config
import pytest

from daskparse.settings import Settings, SettingsError, load_settings


def test_defaults_give_a_20_thread_cluster_and_the_local_extractor_without_a_key():
    settings = load_settings(environ={})
    assert settings.workers * settings.threads_per_worker == 20
    assert settings.extractor_name == "local"
    assert (settings.max_long_side, settings.max_short_side, settings.jpeg_quality) == (1200, 800, 95)


def test_precedence_dask_config_then_environment_then_arguments():
    with dask.config.set({"daskparse.threads": 3, "daskparse.max-long-side": 1000, "daskparse.workers": 4}):
        settings = load_settings(environ={"DASKPARSE_THREADS": "5"}, workers=1)
    assert (settings.max_long_side, settings.threads, settings.workers) == (1000, 5, 1)


def test_auto_extractor_uses_gemini_when_a_key_is_set_and_the_key_never_shows():
    settings = load_settings(environ={"GEMINI_API_KEY": "AIza-secret-value"})
    assert settings.extractor_name == "gemini"
    assert "AIza-secret-value" not in repr(settings) and "AIza-secret-value" not in str(settings.model_dump())
    assert settings.gemini_api_key.get_secret_value() == "AIza-secret-value"


def test_bad_values_are_one_readable_error():
    with pytest.raises(SettingsError, match="workers"):
        load_settings(environ={}, workers=0)
    with pytest.raises(SettingsError, match="no_such_option"):
        load_settings(environ={}, no_such_option=1)
    with pytest.raises(SettingsError, match="GEMINI_API_KEY"):
        load_settings(environ={}, extractor="gemini")


def test_reference_date_parses_and_defaults_to_today():
    assert load_settings(environ={}, reference_date="2026-11-01").run_reference_date() == dt.date(2026, 11, 1)
    assert Settings().run_reference_date() == dt.date.today()
