"""Local language models: text generation (Llama, Mistral, Qwen2, Gemma), captions (BLIP, Qwen2-VL)."""
