"""Streaming (``stream=true``): the same request path as a body answer, whose last step writes events.

- :mod:`.sse`: server-sent events framing, both ways: the decoder the transport reads upstream streams with,
  and the encoder of the events the gateway sends.
- :mod:`.relay`: what one upstream call's previews and images become as client events (adapted as a body
  answer's images are, numbered across a fan-out).
- :mod:`.response`: the streaming response itself: the first event (or an HTTP error before it), keep-alive
  comments, an error event after it, client disconnects, and what the access log and metrics record.
"""
