"""AI providers: OpenAI (and compatible servers), Gemini, Ollama."""

from __future__ import annotations

from .base import Provider


def default_providers(
    *,
    openai_api_key: str | None = None,
    openai_base_url: str | None = None,
    gemini_api_key: str | None = None,
    gemini_base_url: str | None = None,
    ollama_host: str | None = None,
) -> dict[str, Provider]:
    """The three providers by name; what is not given comes from the environment.
    Their client libraries are imported only when a provider is used."""
    from .gemini import GeminiProvider
    from .ollama import OllamaProvider
    from .openai import OpenAIProvider

    return {
        "openai": OpenAIProvider(openai_api_key, openai_base_url),
        "gemini": GeminiProvider(gemini_api_key, gemini_base_url),
        "ollama": OllamaProvider(ollama_host),
    }
