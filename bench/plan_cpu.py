"""CPU time of the per-request work before any upstream call: decoding a generation body, its fields into
ImageParams, the seed spellings settled, and the plan for a GPT model. Pure CPU, so it compares two source
trees on a busy machine:

    PYTHONPATH=OTHER/core:OTHER/plugins python -m bench.plan_cpu   # then the same without PYTHONPATH
"""

import time

import msgspec
from imagegate.capabilities import ModelCapabilities
from imagegate.planner import make_plan
from imagegate.request import ImageParams, ImageRequest
from imagegate_openai.provider import OpenAIProvider

try:
    from imagegate.parsing import settle_spellings
except ImportError:  # a tree from before the seed spellings (issue #11)

    def settle_spellings(params: ImageParams) -> ImageParams:
        return params


BODY = msgspec.json.encode(
    {
        "model": "gpt-image-1",
        "prompt": "a red fox in the snow",
        "n": 2,
        "size": "1536x1024",
        "quality": "high",
        "output_format": "webp",
        "output_compression": 80,
    }
)


def one(caps: ModelCapabilities) -> None:
    fields = msgspec.json.decode(BODY)
    params = settle_spellings(msgspec.convert(fields, ImageParams))
    request = ImageRequest(operation="generate", params=params, model="gpt-image-1", extra={}, images=[])
    make_plan(request, caps, "gpt-image-1", {})


def main() -> None:
    caps = OpenAIProvider().capabilities("gpt-image-1", None)
    for _ in range(2000):
        one(caps)
    best = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(20000):
            one(caps)
        best.append((time.process_time() - start) / 20000 * 1e6)
    print(f"{min(best):.2f} us CPU per parse+plan (best of 5 x 20000)")


if __name__ == "__main__":
    main()
