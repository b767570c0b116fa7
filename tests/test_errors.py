"""Per-source failures as values: the error record."""

from daskparse.errors import ErrorRecord, SourceError


def test_an_error_message_keeps_no_terminal_escape():
    error = SourceError("gemini.bad_output", "the model said \x1b[2J\x1b]8;;http://x/\x1b\\click\u202e here")
    record = ErrorRecord.from_error("https://a.example/f.jpg", "https://a.example/f.jpg", error)
    assert record.message == "the model said click here"
    assert (record.stage, record.kind) == ("gemini", "gemini.bad_output")
