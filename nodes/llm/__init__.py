"""Local language models: text generation (Llama, Qwen2, Gemma, Mistral) and image captioning (BLIP)."""
