"""reconciler: declarative, GitOps-native reconciler for Gemini tuned models."""

__version__ = "0.1.0"
