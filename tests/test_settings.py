import datetime as dt

import dask.config
import pytest

from daskparse.options import CacheOptions, OptimizeOptions
from daskparse.settings import Settings, SettingsError, load_settings


def test_defaults_give_a_20_thread_cluster_and_the_local_extractor_without_a_key():
    settings = load_settings(environ={})
    assert settings.worker_threads == [10, 10]  # 20 threads in total, on 2 workers
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


def test_the_clients_own_variables_travel_with_the_settings():
    """Workers of a cluster started elsewhere do not see this process's environment: the settings carry it."""
    settings = load_settings(environ={"GEMINI_API_KEY": "k", "GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9",
                                      "GOOGLE_GENAI_API_VERSION": "v1beta"})
    assert (settings.gemini_base_url, settings.gemini_api_version) == ("http://127.0.0.1:9", "v1beta")
    mine = load_settings(environ={"GOOGLE_GEMINI_BASE_URL": "http://127.0.0.1:9",
                                  "DASKPARSE_GEMINI_BASE_URL": "http://127.0.0.1:8"})
    assert mine.gemini_base_url == "http://127.0.0.1:8"


def test_cache_settings_take_durations_and_off():
    settings = load_settings(environ={"DASKPARSE_CACHE_TTL": "12h"}, cache_error_ttl="30m",
                             cache_phash_distance="off")
    assert (settings.cache_ttl, settings.cache_error_ttl, settings.cache_phash_distance) == (43200, 1800, None)
    assert load_settings(environ={}).use_cache
    assert not load_settings(environ={"DASKPARSE_USE_CACHE": "0"}).use_cache
    with pytest.raises(SettingsError, match="cache_ttl"):
        load_settings(environ={}, cache_ttl="soon")


@pytest.mark.parametrize("text, seconds", [("7d", 7 * 86400), ("12h", 43200), ("30m", 1800), ("90s", 90), ("90", 90),
                                           (" 7d ", 7 * 86400), ("1.5h", 5400), ("7 D", 7 * 86400), (3600, 3600)])
def test_durations_take_the_documented_forms(text, seconds):
    assert load_settings(environ={}, cache_ttl=text).cache_ttl == seconds


@pytest.mark.parametrize("text", ["a week", "soon", "7d7", "-5s", " "])
def test_a_bad_duration_is_named_with_what_to_write_instead(text):
    with pytest.raises(SettingsError) as raised:
        load_settings(environ={}, cache_ttl=text)
    message = str(raised.value)
    assert f"not a duration: {text!r}" in message and "7d, 12h, 30m" in message
    assert "Valid units" not in message and "float" not in message  # not dask's own wording


def test_every_takes_a_duration_from_any_source():
    assert load_settings(environ={}).every is None
    assert load_settings(environ={"DASKPARSE_EVERY": "30m"}).every == 1800
    with dask.config.set({"daskparse.every": "12h"}):
        assert load_settings(environ={}).every == 43200
    with pytest.raises(SettingsError, match="every"):
        load_settings(environ={}, every="0")


def test_thinking_is_off_by_default_except_where_it_cannot_be_and_the_cache_keeps_the_choices_apart():
    from daskparse.extract import result_key

    key = dict(extractor="gemini", gemini_api_key="k" * 39)
    assert load_settings(**key).thinking_tokens == 0
    assert load_settings(**key, model="gemini-2.5-pro").thinking_tokens == 128  # Pro cannot turn it off
    assert load_settings(**key, thinking_budget="dynamic").thinking_tokens == -1
    assert load_settings(environ={"DASKPARSE_THINKING_BUDGET": "512"}).thinking_tokens == 512
    with dask.config.set({"daskparse.thinking-budget": "dynamic"}):
        assert load_settings(environ={}).thinking_budget == "dynamic"
    for bad in ({"thinking_budget": "lots"}, {"thinking_budget": 0, "model": "gemini-2.5-pro"}):
        with pytest.raises(SettingsError, match="thinking_budget"):
            load_settings(**key, **bad)
    keys = [result_key(load_settings(**key, **options)) for options in (
        {}, {"thinking_budget": "dynamic"}, {"thinking_budget": 256}, {"media_resolution": "low"})]
    assert len({str(sorted(k.items())) for k in keys}) == 4
    # dynamic thinking at the model's own resolution is what every request got before: those results stay valid
    assert "thinking" not in keys[1] and "media_resolution" not in keys[1]


def test_the_estimated_cost_bills_thoughts_as_output_and_batch_at_half():
    settings = load_settings()
    assert settings.estimated_cost(1_000_000, 0) == 0.30
    assert settings.estimated_cost(0, 500_000, 500_000) == 2.50
    assert settings.estimated_cost(1_000_000, 1_000_000, batch=True) == 1.40
    assert load_settings(model="gemini-9").estimated_cost(1, 1) is None


def _message(**kwargs) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(**kwargs)
    text = str(caught.value)
    assert not any(words in text for words in ("Value error", "Input should", "settings:")), text
    return text


def test_a_bad_value_is_named_the_way_it_was_given_in_plain_words():
    """Issue 15: DASKPARSE_THREADS=abc reported "threads: Input should be a valid integer, ...", pydantic's words
    about a name the user never typed."""
    assert _message(environ={"DASKPARSE_THREADS": "abc"}) == "DASKPARSE_THREADS=abc: not a whole number"
    assert _message(environ={}, flags={"workers": "--workers"}, workers=0) == "--workers 0: must be at least 1"
    assert _message(environ={}, workers=0) == "workers=0: must be at least 1"  # the Python API's keyword
    with dask.config.set({"daskparse.threads": "abc"}):
        assert _message(environ={}) == "daskparse.threads=abc (dask config): not a whole number"
    assert _message(environ={"DASKPARSE_REFERENCE_DATE": "yesterday"}) == \
        "DASKPARSE_REFERENCE_DATE=yesterday: not a date (YYYY-MM-DD)"
    assert _message(environ={}, flags={"extractor": "--extractor"}, extractor="ocr") == \
        "--extractor ocr: not one of 'auto', 'gemini' or 'local'"
    assert _message(environ={}, thinking_budget="lots") == "thinking_budget='lots': not a whole number or 'dynamic'"
    # the value that wins is the one named: the flag over the variable
    assert _message(environ={"DASKPARSE_WORKERS": "3"}, flags={"workers": "--workers"}, workers=0).startswith("--workers 0")


def test_a_check_across_options_names_the_option_the_way_it_was_given():
    key = {"GEMINI_API_KEY": "k" * 39}
    assert _message(environ=key, flags={"thinking_budget": "--thinking-budget"}, model="gemini-2.5-pro",
                    thinking_budget=0).startswith("--thinking-budget 0: gemini-2.5-pro cannot think less than 128")
    assert _message(environ={**key, "DASKPARSE_MODEL": "gemini-2.5-pro", "DASKPARSE_THINKING_BUDGET": "0"}) \
        .startswith("DASKPARSE_THINKING_BUDGET=0: gemini-2.5-pro")


def test_gemini_without_a_key_says_where_to_get_one_and_which_variable_to_set():
    for given, named in (({"flags": {"extractor": "--extractor"}, "extractor": "gemini"}, "--extractor gemini"),
                         ({"environ": {"DASKPARSE_EXTRACTOR": "gemini"}}, "DASKPARSE_EXTRACTOR=gemini")):
        text = _message(**{"environ": {}, **given})
        assert text.startswith(f"{named} needs a Gemini API key"), text
        assert "GEMINI_API_KEY" in text and "https://aistudio.google.com/apikey" in text


def test_a_key_is_never_shown_in_a_message():
    with dask.config.set({"daskparse.gemini-api-key": 123456789}):  # not text: refused, and not repeated
        text = _message(environ={})
    assert text == "daskparse.gemini-api-key (dask config): not text" and "123456789" not in text


def test_parse_images_takes_settings_built_beforehand_and_refuses_them_mixed_with_options(tmp_path):
    import threading

    import daskparse

    stop = threading.Event()
    stop.set()  # nothing runs: only the settings are read
    settings = load_settings(extractor="local", threads=3)
    result = daskparse.parse_images([str(tmp_path / "x.jpg")], settings=settings, stop=stop)
    assert result.stats["extractor"] == "local"
    with pytest.raises(SettingsError, match="settings= holds every option: give threads to load_settings"):
        daskparse.parse_images([str(tmp_path / "x.jpg")], settings=settings, threads=4, stop=stop)


def test_every_stages_options_are_built_from_the_settings():
    from daskparse.options import FetchLimits, GeminiOptions

    settings = load_settings(read_timeout=12, max_redirects=2, extractor="gemini", gemini_api_key="k" * 39,
                             allow_private_hosts=False,
                             timeout=20, thinking_budget="dynamic", media_resolution="low")
    assert settings.fetch_limits() == FetchLimits(5.0, 12.0, 25 * 1024 * 1024, 2, False)
    options = settings.gemini_options()
    assert isinstance(options, GeminiOptions) and options.api_key == "k" * 39 and "k" * 39 not in repr(options)
    assert (options.timeout, options.thinking_budget, options.media_resolution) == (20.0, -1, "low")
    with pytest.raises(SettingsError, match="GEMINI_API_KEY"):
        load_settings(extractor="local").gemini_options()


def test_each_stage_gets_its_options_from_the_settings_in_one_place():
    settings = load_settings(max_long_side=1000, max_short_side=700, jpeg_quality=90, cache="memory://c",
                             cache_ttl="2d", cache_phash_distance=10, rpm=600, concurrency=5, gate_window=2)
    assert settings.optimize_options() == OptimizeOptions(max_size=(1000, 700), quality=90)
    assert settings.cache_options() == CacheOptions("memory://c", ttl=2 * 86400.0, error_ttl=86400.0,
                                                    phash_distance=10)
    limits = settings.gate_limits()
    assert (limits.rpm, limits.concurrency, limits.window, limits.tpm) == (600, 5, 2, None)
