"""Model-side code that several tasks use: CLIP, seq2seq pipelines, the chat engine, text splitting,
batching, caches, languages. No gradio, no tabs."""
