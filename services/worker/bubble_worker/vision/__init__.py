"""Suggestions from a vision-language model behind an OpenAI-compatible Chat Completions API.

settings.py  what to ask and how fast (VISION_MODEL_*)
pictures.py  which images are sent, as bounded JPEG data URLs
prompt.py    the request: instructions, the owner's text as data, the answer's JSON schema
client.py    the HTTP exchange, its failures sorted into retryable and not
answer.py    the model's answer, validated field by field
merge.py     the answer merged into the image-fact suggestions
"""
