"""One turn: plan, prompt, lore, speakers, stop trimming, the worker and its effects (§4, §8)."""
