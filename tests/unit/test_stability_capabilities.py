"""What the Stability provider declares per target, and the accounts it accepts."""

from __future__ import annotations

import pytest
from imagegate_stability import StabilityProvider
from imagegate_stability.config import StabilityAccount, StabilityTarget

PROVIDER = StabilityProvider()


def caps(model: str, edit: str | None = None):
    return PROVIDER.capabilities(model, StabilityTarget(edit=edit))


def test_generation_models_map_sizes_to_the_nine_aspect_ratios_one_image_per_call() -> None:
    for model in (
        "ultra",
        "core",
        "sd3.5-large",
        "sd3.5-large-turbo",
        "sd3.5-medium",
        "sd3-large",
        "sd3-large-turbo",
        "sd3-medium",
    ):
        declared = caps(model)
        assert set(declared.sizes.aspect_ratios) == {
            "16:9",
            "1:1",
            "21:9",
            "2:3",
            "3:2",
            "4:5",
            "5:4",
            "9:16",
            "9:21",
        }
        assert declared.max_images_per_call == 1
        assert declared.output_formats == {"png", "jpeg", "webp"}
        assert declared.output_compression is False
        assert declared.delivery == "bytes"
        assert declared.operations == {"generate", "edit"}
        assert declared.max_prompt_chars == 10_000


def test_unknown_model_is_a_load_error_naming_the_choices() -> None:
    with pytest.raises(ValueError, match=r"sd3\.5-large"):
        caps("stable-diffusion-xl")


def test_extra_params_follow_each_model() -> None:
    assert caps("core").extra_params == {"negative_prompt", "seed", "style_preset", "grow_mask"}
    assert caps("ultra").extra_params == {"negative_prompt", "seed", "style_preset", "grow_mask", "strength"}
    assert caps("sd3.5-large").extra_params == {
        "negative_prompt",
        "seed",
        "style_preset",
        "cfg_scale",
        "strength",
        "grow_mask",
    }
    # Stability documents negative_prompt as without effect on the turbo models (inpaint still takes it).
    assert "cfg_scale" in caps("sd3.5-large-turbo").extra_params


def test_edit_option_picks_the_endpoint_and_its_parameters() -> None:
    outpaint = caps("core", "outpaint")
    assert outpaint.extra_params == {
        "negative_prompt",
        "seed",
        "style_preset",
        "left",
        "right",
        "up",
        "down",
        "creativity",
    }
    assert outpaint.mask is False
    assert outpaint.prompt_required is False
    assert caps("core", "erase").mask is True
    assert caps("core", "search-and-replace").extra_params >= {"search_prompt", "grow_mask"}
    assert caps("core", "search-and-recolor").extra_params >= {"select_prompt"}
    assert caps("core", "remove-background").output_formats == {"png", "webp"}


def test_default_edits_take_a_mask_and_one_image() -> None:
    declared = caps("sd3.5-medium")
    assert declared.mask is True
    assert declared.max_input_images == 1
    assert declared.prompt_required is True


def test_check_account() -> None:
    assert PROVIDER.check_account(StabilityAccount(api_key="sk-test")) is None
    assert "api_key" in (PROVIDER.check_account(StabilityAccount(api_key=None)) or "")
    assert "base_url" in (PROVIDER.check_account(StabilityAccount(api_key="k", base_url="api.example")) or "")
