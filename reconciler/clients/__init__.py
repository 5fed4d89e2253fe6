"""API clients: thin REST clients for Vertex AI and the Gemini API over one shared HTTP policy (`http`), and
credentials as `httpx.Auth` (`auth`). Which client a platform uses is the platform's business
(`reconciler.platforms.connect`)."""
