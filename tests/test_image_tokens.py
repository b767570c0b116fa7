"""Image tokens before a call: the documented rule, and what answers teach it (daskparse.image_tokens)."""

from daskparse.image_tokens import ImageTokenEstimate, documented_tokens, image_token_estimate


def test_the_documented_rule():
    assert documented_tokens(384, 384, "gemini-2.5-flash") == 258  # both sides small: one tile's price
    assert documented_tokens(960, 540, "gemini-2.5-flash") == 6 * 258  # the notes' example: crop 360, 3 x 2 tiles
    assert documented_tokens(1200, 800, "models/gemini-2.5-flash") == 6 * 258  # crop 533: 3 x 2
    assert documented_tokens(800, 1200, "gemini-2.5-flash") == 6 * 258  # turned: the same
    assert documented_tokens(385, 100, "gemini-2.5-flash") == 12 * 258  # a thin image: crop 66 px, 6 x 2 tiles
    assert documented_tokens(1200, 800, "gemini-2.5-flash", "low") == 64  # a flat price at LOW and MEDIUM
    assert documented_tokens(1200, 800, "gemini-2.5-flash", "MEDIUM") == 256
    assert documented_tokens(1200, 800, "gemini-2.5-flash", "high") == 6 * 258  # HIGH: the size rule
    assert documented_tokens(100, 100, "gemini-3-flash-preview") == 1120  # Gemini 3: a level's price, any size
    assert documented_tokens(4000, 3000, "gemini-3-flash-preview", "low") == 280


def test_the_estimate_converges_to_what_answers_report_per_size_and_guesses_the_rest_by_their_ratio():
    estimate = ImageTokenEstimate("gemini-2.5-pro")
    assert estimate.tokens(1200, 800) == 1548  # nothing learnt: the rule
    estimate.learn(1200, 800, 258)  # 2.5 Pro charging 258 for any size, as users report
    assert estimate.tokens(1200, 800) == 258  # the first answer is taken as it is
    assert estimate.tokens(1080, 720) == 258  # the same documented count: what was reported for it
    assert estimate.tokens(2000, 1000) == round(documented_tokens(2000, 1000, "gemini-2.5-pro") / 6)  # by the ratio
    for _ in range(30):
        estimate.learn(1200, 800, 300)  # the price moves: the estimate follows, as a moving average
    assert 295 <= estimate.tokens(1200, 800) <= 300
    estimate.learn(1200, 800, 0)  # an answer that says nothing teaches nothing
    estimate.learn(1200, 800, None)
    assert 295 <= estimate.tokens(1200, 800) <= 300 and estimate.learnt == 31


def test_one_estimate_per_model_and_media_resolution_in_a_process():
    assert image_token_estimate("gemini-2.5-flash") is image_token_estimate("gemini-2.5-flash")
    assert image_token_estimate("gemini-2.5-flash", "low") is not image_token_estimate("gemini-2.5-flash")


def test_a_run_reports_each_images_tokens_in_outcomes_and_per_image_in_stats(gemini_server, tmp_path):
    """The loopback charges a 1200x800 image 4 tiles of 258, a 320x240 one 258: the outcomes carry each image's,
    stats the mean over the images sent."""
    import daskparse
    from conftest import GEMINI_KEY, jpeg_bytes

    (tmp_path / "big.jpg").write_bytes(jpeg_bytes(1200, 800))
    (tmp_path / "small.jpg").write_bytes(jpeg_bytes(320, 240, color=(10, 200, 30)))
    result = daskparse.parse_images([str(tmp_path / "big.jpg"), str(tmp_path / "small.jpg")], extractor="gemini",
                                    gemini_api_key=GEMINI_KEY, gemini_base_url=gemini_server.base_url,
                                    use_cache=False, workers=1, threads=2, timeout=10)
    tokens = dict(zip(result.outcomes["source"].str.rsplit("/", n=1).str[-1], result.outcomes["image_tokens"]))
    assert tokens == {"big.jpg": 4 * 258, "small.jpg": 258}
    assert result.stats["imageTokensPerImage"] == (4 * 258 + 258) / 2 and result.stats["imageTokens"] == 5 * 258
