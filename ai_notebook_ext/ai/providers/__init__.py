"""AI providers: OpenAI (and compatible servers), Gemini, Ollama."""
