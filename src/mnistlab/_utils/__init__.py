"""Private helpers shared by every part of mnistlab (files written atomically, ...)."""
