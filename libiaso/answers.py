"""What a correct answer of each endpoint must carry, beyond being a JSON object.

Probes that only time an endpoint still judge its answer: an API that answers fast with
nonsense is not answering. Each check raises the payload error that names the field.
"""
from __future__ import annotations

from .client import Answer
from .errors import WrongType


def verify(answer: Answer) -> None:
    """Raise a ``PayloadError`` unless ``answer`` is what its endpoint promises."""
    role = answer.endpoint.role
    if role == "life":
        status_code = answer.field("status_code", "int")
        if status_code != 200:
            raise WrongType(f"{answer.url} answered statusCode {status_code}, expected 200",
                            field=answer.endpoint.field_path("status_code"), url=answer.url,
                            status=answer.status, elapsed=answer.elapsed)
    elif role == "health" and not answer.field("components", "components"):
        raise WrongType("the health answer lists no component",
                        field=answer.endpoint.field_path("components"), url=answer.url,
                        status=answer.status, elapsed=answer.elapsed)
