"""Serving the app to other programs: the OpenAI-compatible API (`openai_api`), remote engines, the UI guard."""
