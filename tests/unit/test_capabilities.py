from __future__ import annotations

import pytest
from imagegate.capabilities import SizeSpec, nearest_aspect_ratio, parse_size, round_to_multiple

GPT2 = SizeSpec(sizes=("auto",), multiple_of=16, max_side=3840, max_pixels=3840 * 2160, max_ratio=3.0)


def test_rule_based_sizes() -> None:
    assert GPT2.accepts("2048x1152") and GPT2.accepts("auto")
    assert not GPT2.accepts("1000x1000")  # not multiples of 16
    assert not GPT2.accepts("3840x1024")  # ratio above 3:1
    assert not GPT2.accepts("3840x3840")  # too many pixels
    assert not GPT2.accepts("wide")


def test_parse_size() -> None:
    assert parse_size("1024x768") == (1024, 768)
    assert parse_size("1024X768") == (1024, 768)
    assert parse_size("0x10") is None and parse_size("axb") is None and parse_size("1024") is None


@pytest.mark.parametrize(
    "size",
    [
        "\u00b2x\u00b2",  # superscript twos
        "\u0661\u0660\u0662\u0664x\u0661\u0660\u0662\u0664",
        "\uff11\uff10\uff12\uff14x\uff11\uff10\uff12\uff14",  # full-width digits
        "1024x768\n",
        " 1024x768",
        "1024\u00d7768",  # the multiplication sign
        "1024xx768",
        "1" * 6 + "x1",
    ],
)
def test_parse_size_takes_ascii_digits_and_one_x_only(size: str) -> None:
    assert parse_size(size) is None


def test_rule_based_sizes_refuse_other_scripts_digits() -> None:
    arabic_indic = "\u0662\u0660\u0664\u0668x\u0661\u0661\u0665\u0662"  # 2048x1152; int() takes these digits
    assert not GPT2.accepts(arabic_indic)
    assert GPT2.accepts("2048X1152") and GPT2.accepts_dimensions(2048, 1152)


def test_nearest_aspect_ratio_is_symmetric_on_log_scale() -> None:
    ratios = ("1:1", "2:1", "1:2")
    assert nearest_aspect_ratio(1400, 1000, ratios) == "1:1"
    assert nearest_aspect_ratio(1000, 1400, ratios) == "1:1"
    assert nearest_aspect_ratio(1500, 1000, ratios) == "2:1"  # log(1.5) is nearer log(2) than log(1)
    assert nearest_aspect_ratio(1536, 1024, ("16:9", "3:2", "1:1")) == "3:2"


def test_round_to_multiple() -> None:
    assert round_to_multiple(1000, 64) == 1024
    assert round_to_multiple(10, 64) == 64
    assert round_to_multiple(5000, 64, highest=2048) == 2048
    assert round_to_multiple(100, 64, lowest=512) == 512


def test_describe_mentions_every_rule() -> None:
    text = GPT2.describe()
    assert "multiples of 16" in text and "1:3" in text and "auto" in text


@pytest.mark.parametrize(
    ("spec", "refused", "rule"),
    [
        (
            SizeSpec(multiple_of=16, max_side=3840, min_pixels=655_360, max_pixels=8_294_400),
            "512x512",
            "655360",
        ),
        (SizeSpec(multiple_of=64, min_side=256), "128x128", "256"),
    ],
)
def test_describe_names_the_lower_limits_that_refuse_a_size(spec: SizeSpec, refused: str, rule: str) -> None:
    """A size refused by a lower limit (gpt-image-2's 655,360 pixels) gets a message that names it: the rule
    listed must not describe the refused size as accepted."""
    assert not spec.accepts(refused)
    assert rule in spec.describe()
