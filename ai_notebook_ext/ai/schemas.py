"""Request and response models of the AI API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ..projects.schemas import Input, Output, Text

ChatText = Annotated[str, Field(max_length=200_000), Text]


class ChatMessage(Input):
    role: Literal["system", "user", "assistant"]
    content: ChatText


class CompleteIn(Input):
    model: Annotated[str, Field(max_length=300)] | None = Field(
        default=None, description="provider:model or an alias; default: the configured one."
    )
    messages: list[ChatMessage] = Field(min_length=1, max_length=200)
    stream: bool = True
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    cache: bool = Field(
        default=False, description="Reuse the answer of an identical call with temperature 0."
    )


class ProviderOut(Output):
    name: str
    configured: bool
    hint: str = Field(description="What to set when it is not configured.")
    reachable: bool | None = Field(description="null when not configured (not tried).")
    error: str = ""
    models: list[str] = []


class ProviderList(Output):
    items: list[ProviderOut]


class Summary(Output):
    calls: int
    errors: int
    error_rate: float
    p50_ms: float | None
    p95_ms: float | None
    tokens_in: int
    tokens_out: int


class Breakdown(Summary):
    provider: str
    model: str
    day: str


class AnalyticsOut(Output):
    total: Summary
    by_provider_model_day: list[Breakdown]
