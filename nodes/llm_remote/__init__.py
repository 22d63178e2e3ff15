"""OpenAI-compatible chat endpoints (Ollama, vLLM, llama.cpp, hosted APIs) as a node."""
