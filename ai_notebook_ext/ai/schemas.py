"""Request and response models of the AI API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, JsonValue, model_validator

from ..projects.schemas import Input, Output, Text

ChatText = Annotated[str, Field(max_length=200_000), Text]
TemplateText = Annotated[str, Field(max_length=100_000), Text]
TemplateName = Annotated[
    str,
    Field(
        pattern=r"^[a-z][a-z0-9_-]{0,63}$",
        description="1-64 lowercase letters, digits, '_' or '-', starting with a letter.",
    ),
]
Values = Annotated[
    dict[Annotated[str, Field(max_length=64)], JsonValue],
    Field(max_length=50, description="Values of the template's declared variables."),
]


class ChatMessage(Input):
    role: Literal["system", "user", "assistant"]
    content: ChatText


class TemplateUse(Input):
    name: TemplateName
    variables: Values = {}


class CompleteIn(Input):
    model: Annotated[str, Field(max_length=300)] | None = Field(
        default=None, description="provider:model or an alias; default: the configured one."
    )
    messages: list[ChatMessage] | None = Field(
        default=None, min_length=1, max_length=200, description="Give messages or template."
    )
    template: TemplateUse | None = Field(
        default=None, description="A prompt template and its variables, instead of messages."
    )
    stream: bool = True
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, ge=1, le=200_000)
    cache: bool = Field(
        default=False, description="Reuse the answer of an identical call with temperature 0."
    )

    @model_validator(mode="after")
    def one_source(self) -> CompleteIn:
        if (self.messages is None) == (self.template is None):
            raise ValueError("give either 'messages' or 'template', not both or neither")
        return self


class VariableIn(Input):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    description: Annotated[str, Field(max_length=1000), Text] = ""
    required: bool = True
    default: JsonValue = Field(default="", description="Used when an optional one is not given.")


class PromptIn(Input):
    name: TemplateName
    description: Annotated[str, Field(max_length=1000), Text] = ""
    system: TemplateText = ""
    template: TemplateText = Field(description="The user message, in Jinja2.")
    variables: list[VariableIn] = Field(default=[], max_length=50)


class PromptUpdate(Input):
    name: TemplateName | None = None
    description: Annotated[str, Field(max_length=1000), Text] | None = None
    system: TemplateText | None = None
    template: TemplateText | None = None
    variables: list[VariableIn] | None = Field(default=None, max_length=50)


class VariableOut(Output):
    name: str
    description: str
    required: bool
    default: Any


class PromptOut(Output):
    name: str
    description: str
    system: str
    template: str
    variables: list[VariableOut]
    source: Literal["builtin", "user"]
    overrides_builtin: bool = Field(description="A user template named like a built-in.")
    updated_at: datetime | None = None


class PromptList(Output):
    items: list[PromptOut]


class RenderIn(Input):
    variables: Values = {}


class RenderOut(Output):
    system: str
    prompt: str
    messages: list[dict[str, str]]


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
