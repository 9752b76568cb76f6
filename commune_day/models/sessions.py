"""Transaction sessions at the commune points, their team and what they post."""

__all__: list[str] = []
