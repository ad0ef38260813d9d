"""flaregate: your own OpenAI-compatible API on Cloudflare Workers AI."""

__version__ = "0.1.0"
