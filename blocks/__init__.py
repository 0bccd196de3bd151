"""Block Kit messages, built by pure functions: data in, a `{"text": …, "blocks": […]}` dict out."""
